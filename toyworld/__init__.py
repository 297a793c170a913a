"""swerve.toyworld"""
