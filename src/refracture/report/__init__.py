"""refracture.report"""
