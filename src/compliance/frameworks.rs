//! Frameworks a check can provide evidence for.

use serde::{Deserialize, Serialize};

/// A compliance framework; the serde form is the stable [`Framework::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Framework {
    #[serde(rename = "soc2")]
    Soc2,
    #[serde(rename = "hipaa")]
    Hipaa,
    #[serde(rename = "pci_dss_4")]
    PciDss4,
    #[serde(rename = "nist_800_53")]
    Nist80053,
    #[serde(rename = "iso_27001_2022")]
    Iso27001_2022,
    #[serde(rename = "disa_stig")]
    DisaStig,
}

impl Framework {
    pub const ALL: [Framework; 6] = [
        Framework::Soc2,
        Framework::Hipaa,
        Framework::PciDss4,
        Framework::Nist80053,
        Framework::Iso27001_2022,
        Framework::DisaStig,
    ];

    /// Stable identifier, used in stored findings and APIs.
    pub fn id(self) -> &'static str {
        match self {
            Framework::Soc2 => "soc2",
            Framework::Hipaa => "hipaa",
            Framework::PciDss4 => "pci_dss_4",
            Framework::Nist80053 => "nist_800_53",
            Framework::Iso27001_2022 => "iso_27001_2022",
            Framework::DisaStig => "disa_stig",
        }
    }

    /// Human-readable name, including the version the control ids refer to.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Soc2 => "SOC 2 (2017 Trust Services Criteria)",
            Framework::Hipaa => "HIPAA Security Rule (45 CFR 164)",
            Framework::PciDss4 => "PCI DSS v4.0",
            Framework::Nist80053 => "NIST SP 800-53 Rev. 5",
            Framework::Iso27001_2022 => "ISO/IEC 27001:2022 Annex A",
            Framework::DisaStig => "DISA Okta IDaaS STIG V1R2",
        }
    }
}
