"""ProspectPro's receiver, delivery worker and command-line tool."""
