//! Running the plan, bottom up: what running produces (`outcome`: failures, counters), the
//! attempt loop over s5cmd command lines (`attempt`), the staged download-verify-upload
//! strategy (`staged`), the per-batch strategies that use both (`execute`), the resource
//! governor (`governor`) and throttling per partition prefix (`throttle`).

pub mod attempt;
pub mod execute;
pub mod governor;
pub mod outcome;
pub mod staged;
pub mod throttle;
