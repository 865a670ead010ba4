"""What Linux does, with no TDX in it: the x86 IDT vector space of a kernel version and config
(:mod:`~tdxlib.kernel.vectors`), the per-CPU vector allocator of ``kernel/irq/matrix.c``
(:mod:`~tdxlib.kernel.matrix`), how ``msleep_interruptible`` sleeps in jiffies
(:mod:`~tdxlib.kernel.jiffies`), what a notify mechanism costs the allocator
(:mod:`~tdxlib.kernel.budget`), the guest kernel profiles that tie a version's facts together
(:mod:`~tdxlib.kernel.profile`), and the kernel's own size limits every entry point is bounded by
(:mod:`~tdxlib.kernel.limits`). Imports only tdxlib's base modules.
"""
