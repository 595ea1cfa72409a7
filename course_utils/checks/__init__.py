"""Exercise definitions, one module per notebook (``nb01`` for notebook 01, ...).

Each module defines ``Exercise`` objects (see ``course_utils.exercises``) whose reference is
the implementation in ``course_utils`` that later notebooks use.
"""
