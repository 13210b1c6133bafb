"""Operator command line: `territoires …`."""
