"""The argument: every claim of the thread as an executable check with a verdict
(:mod:`~tdxlib.argument.claims`), the measurements the checks decide on
(:mod:`~tdxlib.argument.evidence`), and spec proposals as YAML, evaluated across scenario suites
(:mod:`~tdxlib.argument.proposals`); the two verdict vocabularies are defined once in
:mod:`~tdxlib.argument.verdicts`. Imports the simulator and the layers below it.
"""
