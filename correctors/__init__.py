"""swerve.correctors"""
