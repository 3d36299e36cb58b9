// Placeholder: the SQLite store (issue 3).
