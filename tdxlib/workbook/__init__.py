"""The workbook: what the notebooks compute, so their code cells stay a few lines long and the logic
is tested. One module per notebook, each with its model functions, key numbers, view and panel:

=====================  ===========================================================================
``nb01_question``      a few GetQuote round trips, the range check, the thread's claims by date
``nb02_budget``        the vector budget: growth with CPUs, offline limits, layouts, captures
``nb03_delivery``      who gets the interrupt: the strategy × VMM profile delivery matrix
``nb04_hotplug``       the notify CPU goes offline: loss windows, re-registration compared
``nb05_polling``       msleep() at each HZ, latency and wake-ups against the poll interval
``nb06_proposals``     a spec proposal's evaluation and explorer
=====================  ===========================================================================

Shared: :mod:`~tdxlib.workbook.params` (one parameter model per notebook), ``session.start`` (every
notebook's first call), ``ledgers`` (each notebook's claims), ``simruns`` (memoised simulation runs),
``panel`` (the widget machinery), ``figures``/``charts`` (the look).
A notebook imports its own module (``from tdxlib.workbook import nb04_hotplug as nb``); this package
imports nothing, so ``tdxlib.workbook.params`` and ``tdxlib.workbook.svg`` stay light for
``tdxlib report``.
"""
