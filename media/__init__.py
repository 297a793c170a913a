"""swerve.media"""
