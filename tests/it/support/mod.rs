//! Test utilities that are not lakesync: the fault-injecting proxy, the Prometheus stack.

pub mod fault_proxy;
pub mod prom_stack;
