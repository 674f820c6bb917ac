//! Test utilities that are not lakesync: the fault-injecting proxy.

pub mod fault_proxy;
