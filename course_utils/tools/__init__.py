"""Course tooling: learner-notebook generation, the course book, and ``doctor``.

Run ``python -m course_utils --help`` for the commands.
"""
