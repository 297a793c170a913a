"""swerve.streams"""
