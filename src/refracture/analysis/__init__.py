"""refracture.analysis"""
