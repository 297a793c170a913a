"""swerve.index"""
