//! DPDK device for netstack: not built yet (see the dpdk issue).
