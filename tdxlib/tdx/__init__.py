"""The TD guest, its host and the spec's calls between them: the GHCI TDVMCALLs and GetQuote buffer
(:mod:`~tdxlib.tdx.ghci`), host VMMs whose behaviour is a data profile (:mod:`~tdxlib.tdx.vmm`), a TD
guest with vCPUs and device IRQ load (:mod:`~tdxlib.tdx.guest`) and the notify strategies of the
thread (:mod:`~tdxlib.tdx.strategies`). Imports :mod:`tdxlib.kernel` and the base modules.
"""
