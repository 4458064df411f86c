"""The one error type for question sets."""


class DatasetError(Exception):
    """A question set is unknown, unreadable or invalid; the message names every problem."""
