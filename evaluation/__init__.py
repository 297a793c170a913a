"""swerve.evaluation"""
