"""ProspectPro's logic that runs inside PostgreSQL, under PL/Python.

Function bodies in the extension import a module from here and pass ``plpy``
in; no module imports ``plpy`` itself, so pytest runs all of it without a
database.
"""
