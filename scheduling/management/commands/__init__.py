"""``manage.py`` commands of the scheduler."""
