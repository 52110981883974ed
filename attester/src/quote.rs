//! The quote checks that need Intel's collateral: collateral freshness, the signature chain and the
//! TCB status, through dcap-qvl with an explicit `now` and a configurable root CA.
use attestation_verifier::TcbStatus;
use dcap_qvl::quote::{Quote, Report};
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::QuoteCollateralV3;
use ironroot_sdk::quote::QuoteParts;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Check, Refusal};

/// Intel SGX Root CA certificate (DER; the same file dcap-qvl ships as its production anchor).
pub const INTEL_ROOT_CA_DER: &[u8] = include_bytes!("intel_sgx_root_ca.der");

/// Which kind of TEE produced a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeeKind {
    Tdx,
    Sgx,
}

/// What a quote proves once its chain, collateral and TCB have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedQuote {
    pub kind: TeeKind,
    pub tcb_status: TcbStatus,
    /// dcap-qvl's status name and Intel advisories, for the record.
    pub dcap_status: String,
    pub advisory_ids: Vec<String>,
    /// SHA-256 of MRTD‖RTMR0‖RTMR1‖RTMR2 (TDX) or MRENCLAVE‖MRSIGNER (SGX).
    pub measurement: [u8; 32],
    pub report_data: [u8; 64],
    /// RTMR3 (TDX only): what the dstack event log must replay to.
    pub rtmr3: Option<[u8; 48]>,
    /// The version 2 statement's quote digest (`ironroot_sdk::quote::quote_digest`): the signed
    /// header‖body, the QE report and the PCK key the verified chain vouches for.
    pub quote_hash: [u8; 32],
}

/// Parses a quote's structure; a refusal names the quote format check.
pub fn parse_quote(raw: &[u8]) -> Result<Quote, Refusal> {
    Quote::parse(raw).map_err(|e| Refusal::new(Check::QuoteFormat, format!("{e:#}")))
}

/// The measurement digest the registry records for a report.
pub fn measurement_digest(report: &Report) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match report {
        Report::SgxEnclave(r) => {
            hasher.update(r.mr_enclave);
            hasher.update(r.mr_signer);
        }
        Report::TD10(r) => td_measurement(&mut hasher, r),
        Report::TD15(r) => td_measurement(&mut hasher, &r.base),
        Report::TD15Ex(r) => td_measurement(&mut hasher, &r.base.base),
    }
    hasher.finalize().into()
}

fn td_measurement(hasher: &mut Sha256, r: &dcap_qvl::quote::TDReport10) {
    for register in [&r.mr_td, &r.rt_mr0, &r.rt_mr1, &r.rt_mr2] {
        hasher.update(register);
    }
}

fn td_base(report: &Report) -> Option<&dcap_qvl::quote::TDReport10> {
    match report {
        Report::SgxEnclave(_) => None,
        Report::TD10(r) => Some(r),
        Report::TD15(r) => Some(&r.base),
        Report::TD15Ex(r) => Some(&r.base.base),
    }
}

/// Collateral freshness: TCB info and QE identity must be issued no later than `now`, not past
/// their `nextUpdate`, and issued at most `freshness_secs` before `now` (so a PCCS that stopped
/// updating, or an operator replaying old collateral, is noticed).
pub fn check_collateral_freshness(
    collateral: &QuoteCollateralV3,
    now: u64,
    freshness_secs: u64,
) -> Result<(), Refusal> {
    for (name, json) in [("TCB info", &collateral.tcb_info), ("QE identity", &collateral.qe_identity)] {
        let (issued, next_update) = issue_window(json)
            .map_err(|reason| Refusal::new(Check::CollateralFreshness, format!("{name}: {reason}")))?;
        let refuse =
            |reason: String| Err(Refusal::new(Check::CollateralFreshness, format!("{name} {reason}")));
        if issued > now as i64 {
            return refuse(format!("is issued in the future ({issued} > now {now})"));
        }
        if next_update <= now as i64 {
            return refuse(format!("expired at {next_update} (now {now})"));
        }
        let age = (now as i64).saturating_sub(issued);
        if age as u64 > freshness_secs {
            return refuse(format!("is stale: issued {age} s ago, window {freshness_secs} s"));
        }
    }
    Ok(())
}

/// `(issueDate, nextUpdate)` of a TCB info or QE identity JSON, as unix seconds.
pub fn issue_window(json: &str) -> Result<(i64, i64), String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let date = |field: &str| -> Result<i64, String> {
        let text = value[field].as_str().ok_or_else(|| format!("no {field}"))?;
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| t.unix_timestamp())
            .map_err(|e| format!("{field} {text:?}: {e}"))
    };
    Ok((date("issueDate")?, date("nextUpdate")?))
}

/// Runs dcap-qvl over the quote and collateral at `now` with `root_ca_der` as trust anchor, after
/// checking the collateral's freshness; maps every failure to the check it belongs to.
pub fn verify_quote(
    root_ca_der: &[u8],
    raw: &[u8],
    collateral: &QuoteCollateralV3,
    now: u64,
    freshness_secs: u64,
) -> Result<VerifiedQuote, Refusal> {
    let quote = parse_quote(raw)?;
    check_collateral_freshness(collateral, now, freshness_secs)?;
    let report = QuoteVerifier::new(root_ca_der.to_vec())
        .verify(raw, collateral, now)
        .map_err(|e| classify_dcap_error(&format!("{e:#}")))?;
    let tcb_status = map_tcb_status(&report.status)?;
    let parts = QuoteParts::parse(raw).map_err(|e| Refusal::new(Check::QuoteFormat, e.to_string()))?;
    let kind = if quote.header.is_sgx() { TeeKind::Sgx } else { TeeKind::Tdx };
    let report_data = match &quote.report {
        Report::SgxEnclave(r) => r.report_data,
        other => td_base(other).map(|r| r.report_data).unwrap_or([0; 64]),
    };
    Ok(VerifiedQuote {
        kind,
        tcb_status,
        dcap_status: report.status.clone(),
        advisory_ids: report.advisory_ids.clone(),
        measurement: measurement_digest(&quote.report),
        report_data,
        rtmr3: td_base(&quote.report).map(|r| r.rt_mr3),
        quote_hash: parts.digest(),
    })
}

/// dcap-qvl reports failures as error chains; sort them into the check they belong to.
fn classify_dcap_error(message: &str) -> Refusal {
    const ATTRIBUTE_FAILURES: [&str; 7] = [
        "Debug mode",
        "TD profiling",
        "migration",
        "SERVTD_EXT",
        "SEPT_VE_DISABLE",
        "MR service TD",
        "Reserved bits",
    ];
    let check = if message.contains("Revoked") || message.contains("No matching TCB level") {
        Check::TcbStatus
    } else if ATTRIBUTE_FAILURES.iter().any(|m| message.contains(m)) {
        Check::TeeAttributes
    } else if message.contains("Failed to decode quote") || message.contains("Unsupported DCAP quote") {
        Check::QuoteFormat
    } else if message.contains("expired") || message.contains("in the future") {
        Check::CollateralFreshness
    } else {
        Check::QuoteSignatureChain
    };
    Refusal::new(check, message)
}

/// dcap-qvl's converged status name → the verifier's [`TcbStatus`]. A TD that launched out of
/// date counts as out of date even if a module update since fixed its current TCB.
fn map_tcb_status(status: &str) -> Result<TcbStatus, Refusal> {
    Ok(match status {
        "UpToDate" => TcbStatus::UpToDate,
        "SWHardeningNeeded" => TcbStatus::SwHardeningNeeded,
        "ConfigurationNeeded" => TcbStatus::ConfigurationNeeded,
        "ConfigurationAndSWHardeningNeeded" => TcbStatus::ConfigurationAndSwHardeningNeeded,
        "OutOfDate" | "TDRelaunchAdvised" => TcbStatus::OutOfDate,
        "OutOfDateConfigurationNeeded" | "TDRelaunchAdvisedConfigurationNeeded" => {
            TcbStatus::OutOfDateConfigurationNeeded
        }
        "Revoked" => TcbStatus::Revoked,
        other => return Err(Refusal::new(Check::TcbStatus, format!("unknown TCB status {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcap_failures_are_sorted_into_their_checks() {
        let cases = [
            ("TCB status is invalid: Revoked", Check::TcbStatus),
            ("Debug mode is enabled", Check::TeeAttributes),
            ("Failed to decode quote: Not enough data", Check::QuoteFormat),
            ("TCBInfo expired", Check::CollateralFreshness),
            ("Signature is invalid for qe_report in quote", Check::QuoteSignatureChain),
            ("Failed to load root ca: BadDer", Check::QuoteSignatureChain),
        ];
        for (message, check) in cases {
            assert_eq!(classify_dcap_error(message).check, check, "{message}");
        }
    }

    #[test]
    fn every_dcap_status_maps_and_relaunch_counts_as_out_of_date() {
        assert_eq!(map_tcb_status("TDRelaunchAdvised").unwrap(), TcbStatus::OutOfDate);
        assert_eq!(map_tcb_status("UpToDate").unwrap(), TcbStatus::UpToDate);
        assert_eq!(map_tcb_status("Bogus").unwrap_err().check, Check::TcbStatus);
    }
}
