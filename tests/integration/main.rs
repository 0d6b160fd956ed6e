//! The end-to-end tests, one binary: the AWS and Azure SDKs are linked once
//! instead of once per file. Each module is one area; `common` holds the
//! emulator, the throttling proxy, the ARM test server and the webhook
//! receiver they share.

mod common;

mod attribution;
mod aws_ami;
mod aws_ebs;
mod aws_org;
mod azure;
mod cli;
mod cloudtrail;
mod detection;
mod exports;
mod faults;
mod fuzz;
mod gcp;
mod network_faults;
mod reach;
mod remedies;
mod reports;
mod scale;
mod scheduled;
mod secrets;
mod verification;
