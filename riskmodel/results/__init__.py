"""Fitted results and what is made of them.

The result object and ``fit``, the report, citation lines and their verification, and stamped output files.
"""
