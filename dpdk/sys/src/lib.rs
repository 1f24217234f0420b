//! Raw DPDK bindings: not built yet (see the dpdk issue).
