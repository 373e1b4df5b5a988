"""Why a cell is what it is: facts gathered from a running lab, and pure rules over them.

facts.py (the model), finder.py (gathers facts through injected raw reads), rules.py (the
rules), firewall_rules.py and bind_failures.py (parsers of what the reads return).
"""
