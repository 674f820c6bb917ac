//! Running the plan: the attempt loop over s5cmd command lines (`execute`), the staged
//! download-verify-upload strategy (`staged`) and the resource governor (`governor`).

pub mod execute;
pub mod governor;
pub mod staged;
