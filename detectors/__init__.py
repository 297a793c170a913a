"""swerve.detectors"""
