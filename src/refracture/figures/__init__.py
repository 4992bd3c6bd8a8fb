"""refracture.figures"""
