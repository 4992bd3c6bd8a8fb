"""The manuscript templates and render assets, installed as ``refracture.templates``."""
