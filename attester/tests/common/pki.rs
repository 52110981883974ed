//! A test PKI of our own shaped like Intel's: a root CA, a TCB-signing certificate, a PCK platform
//! CA and a PCK leaf (carrying the real sample's SGX extension, so its FMSPC and SVNs match the
//! real TCB info), CRLs for both CAs, TCB info and QE identity (the real sample's contents, re-dated
//! and re-signed), and TDX quotes whose report data, RTMR3 and MRTD we choose, signed by an
//! attestation key whose hash the (re-signed) QE report carries.
use dcap_qvl::QuoteCollateralV3;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, CustomExtension,
    DnType, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::sample;

const SGX_EXTENSION_OID: &[u64] = &[1, 2, 840, 113741, 1, 13, 1];
const HEADER_LEN: usize = 48;
const TD10_BODY_LEN: usize = 584;
const MRTD: std::ops::Range<usize> = 136..184;
const RTMR3: std::ops::Range<usize> = 472..520;
const REPORT_DATA: std::ops::Range<usize> = 520..584;

/// Signs with fixed-size `r ‖ s` output, as DCAP structures carry signatures.
pub struct P256 {
    pub rcgen: KeyPair,
    ring: EcdsaKeyPair,
}

impl P256 {
    pub fn generate() -> Self {
        let rcgen = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let ring = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &rcgen.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        Self { rcgen, ring }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.ring.sign(&SystemRandom::new(), message).unwrap().as_ref().try_into().unwrap()
    }

    /// `x ‖ y` (64 bytes).
    pub fn raw_public(&self) -> [u8; 64] {
        self.ring.public_key().as_ref()[1..].try_into().unwrap()
    }
}

pub struct TestPki {
    pub root_der: Vec<u8>,
    pub collateral: QuoteCollateralV3,
    pck_chain_pem: String,
    pck_key: P256,
    template: Vec<u8>,
    qe_report: [u8; 384],
    qe_auth_data: Vec<u8>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn leaf_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
    params
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t).unwrap().format(&Rfc3339).unwrap()
}

fn crl(issuer: &rcgen::Issuer<'_, &KeyPair>, now: i64) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update: OffsetDateTime::from_unix_timestamp(now - 3600).unwrap(),
        next_update: OffsetDateTime::from_unix_timestamp(now + 30 * 24 * 3600).unwrap(),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .unwrap()
    .der()
    .to_vec()
}

/// Replaces the `issueDate` and `nextUpdate` values of a TCB info / QE identity JSON.
fn redate(json: &str, issued: i64, next_update: i64) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let old_issue = value["issueDate"].as_str().unwrap().to_string();
    let old_next = value["nextUpdate"].as_str().unwrap().to_string();
    json.replacen(&old_issue, &rfc3339(issued), 1).replacen(&old_next, &rfc3339(next_update), 1)
}

impl TestPki {
    /// A PKI whose collateral was issued an hour before `now` and is valid for 30 days.
    pub fn new(now: i64) -> Self {
        Self::with_tcb_info_edit(now, |json| json)
    }

    /// As [`Self::new`], with the TCB info JSON passed through `edit` before it is signed.
    pub fn with_tcb_info_edit(now: i64, edit: impl FnOnce(String) -> String) -> Self {
        let (template, sample_collateral) = sample("tdx_quote");
        let parsed = dcap_qvl::quote::Quote::parse(&template).unwrap();
        let auth = parsed.auth_data.clone().into_v3();
        let sample_leaf = dcap_qvl::intel::extract_cert_chain(&parsed).unwrap().remove(0);
        let sgx_extension = dcap_qvl::intel::parse_pck_extension(&sample_leaf).unwrap().raw_extension;

        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root = CertifiedIssuer::self_signed(ca_params("Ironroot Test SGX Root CA"), &root_key).unwrap();
        let tcb_key = P256::generate();
        let tcb_cert =
            leaf_params("Ironroot Test SGX TCB Signing").signed_by(&tcb_key.rcgen, &*root).unwrap();
        let pck_ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let pck_ca =
            CertifiedIssuer::signed_by(ca_params("Ironroot Test SGX PCK Platform CA"), &pck_ca_key, &*root)
                .unwrap();
        let pck_key = P256::generate();
        let mut pck_params = leaf_params("Ironroot Test SGX PCK Certificate");
        pck_params
            .custom_extensions
            .push(CustomExtension::from_oid_content(SGX_EXTENSION_OID, sgx_extension));
        let pck_leaf = pck_params.signed_by(&pck_key.rcgen, &*pck_ca).unwrap();

        let tcb_chain_pem = format!("{}{}", tcb_cert.pem(), root.pem());
        let issued = now - 3600;
        let next_update = now + 30 * 24 * 3600;
        let tcb_info = edit(redate(&sample_collateral.tcb_info, issued, next_update));
        let qe_identity = redate(&sample_collateral.qe_identity, issued, next_update);
        let collateral = QuoteCollateralV3 {
            pck_crl_issuer_chain: format!("{}{}", pck_ca.pem(), root.pem()),
            root_ca_crl: crl(&root, now),
            pck_crl: crl(&pck_ca, now),
            tcb_info_issuer_chain: tcb_chain_pem.clone(),
            tcb_info_signature: tcb_key.sign(tcb_info.as_bytes()).to_vec(),
            tcb_info,
            qe_identity_issuer_chain: tcb_chain_pem,
            qe_identity_signature: tcb_key.sign(qe_identity.as_bytes()).to_vec(),
            qe_identity,
            pck_certificate_chain: None,
        };
        TestPki {
            root_der: root.der().to_vec(),
            collateral,
            pck_chain_pem: format!("{}{}{}", pck_leaf.pem(), pck_ca.pem(), root.pem()),
            pck_key,
            template,
            qe_report: auth.qe_report,
            qe_auth_data: auth.qe_auth_data.data.clone(),
        }
    }

    /// The sample quote's MRTD (what [`Self::quote`] uses when none is given).
    pub fn template_mrtd(&self) -> [u8; 48] {
        self.template[HEADER_LEN + MRTD.start..HEADER_LEN + MRTD.end].try_into().unwrap()
    }

    /// A TDX v4 quote with `report_data`, `rtmr3` and `mrtd` in the TD report, signed through this PKI.
    pub fn quote(&self, report_data: &[u8; 64], rtmr3: &[u8; 48], mrtd: Option<&[u8; 48]>) -> Vec<u8> {
        let mut signed = self.template[..HEADER_LEN + TD10_BODY_LEN].to_vec();
        let body = &mut signed[HEADER_LEN..];
        body[REPORT_DATA].copy_from_slice(report_data);
        body[RTMR3].copy_from_slice(rtmr3);
        if let Some(mrtd) = mrtd {
            body[MRTD].copy_from_slice(mrtd);
        }
        let attestation_key = P256::generate();
        let isv_signature = attestation_key.sign(&signed);

        let mut qe_report = self.qe_report;
        let mut hasher = Sha256::new();
        hasher.update(attestation_key.raw_public());
        hasher.update(&self.qe_auth_data);
        qe_report[320..352].copy_from_slice(&hasher.finalize());
        qe_report[352..384].fill(0);
        let qe_signature = self.pck_key.sign(&qe_report);

        let pem = self.pck_chain_pem.as_bytes();
        let mut qe_cert_data = Vec::new();
        qe_cert_data.extend_from_slice(&qe_report);
        qe_cert_data.extend_from_slice(&qe_signature);
        qe_cert_data.extend_from_slice(&(self.qe_auth_data.len() as u16).to_le_bytes());
        qe_cert_data.extend_from_slice(&self.qe_auth_data);
        qe_cert_data.extend_from_slice(&5u16.to_le_bytes());
        qe_cert_data.extend_from_slice(&(pem.len() as u32).to_le_bytes());
        qe_cert_data.extend_from_slice(pem);

        let mut signature_data = Vec::new();
        signature_data.extend_from_slice(&isv_signature);
        signature_data.extend_from_slice(&attestation_key.raw_public());
        signature_data.extend_from_slice(&6u16.to_le_bytes());
        signature_data.extend_from_slice(&(qe_cert_data.len() as u32).to_le_bytes());
        signature_data.extend_from_slice(&qe_cert_data);

        let mut quote = signed;
        quote.extend_from_slice(&(signature_data.len() as u32).to_le_bytes());
        quote.extend_from_slice(&signature_data);
        quote
    }
}
