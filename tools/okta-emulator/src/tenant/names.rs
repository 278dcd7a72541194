//! Word lists that make seeded tenants read like a real company's directory.

pub(super) const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carmen", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rafael", "Sofia", "Tomas", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Diego", "Emeka", "Freya",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Garcia",
    "Chen",
    "Okafor",
    "Novak",
    "Patel",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Silva",
    "Johansson",
    "Dubois",
    "Rossi",
    "Murphy",
    "Nguyen",
    "Schmidt",
    "Ivanova",
    "Cohen",
    "Moreau",
    "Andersen",
    "Brennan",
    "Castillo",
    "Fischer",
    "Larsen",
    "Mbeki",
    "Ortega",
];

pub(super) const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "Engineering",
        &[
            "Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "SRE",
        ],
    ),
    (
        "Sales",
        &["Account Executive", "Sales Engineer", "Sales Director"],
    ),
    ("Marketing", &["Marketing Manager", "Content Strategist"]),
    (
        "Finance",
        &["Accountant", "Controller", "Financial Analyst"],
    ),
    ("Human Resources", &["HR Partner", "Recruiter"]),
    ("Support", &["Support Engineer", "Support Lead"]),
    ("IT", &["IT Administrator", "Security Analyst"]),
];

/// Names of the first OKTA_GROUP groups, with descriptions; later groups are numbered project teams.
pub(super) const GROUPS: &[(&str, &str)] = &[
    ("IT Admins", "Administrators of Okta and the IT estate"),
    ("Engineering", "All engineers"),
    ("Sales", "Sales and sales engineering"),
    ("Marketing", "Marketing team"),
    ("Finance", "Finance and accounting"),
    ("Contractors", "External contractors with limited access"),
    ("Human Resources", "People team"),
    ("Support", "Customer support"),
    ("Executives", "Executive leadership"),
    ("Legal", "Legal and compliance"),
];

/// App labels with the URL a bookmark or SWA app would open.
pub(super) const APPS: &[(&str, &str)] = &[
    ("Salesforce", "https://login.salesforce.com"),
    ("Slack", "https://example.slack.com"),
    (
        "GitHub Enterprise",
        "https://github.com/enterprises/example",
    ),
    ("Zoom", "https://example.zoom.us"),
    ("Workday", "https://wd5.myworkday.com/example"),
    ("Jira", "https://example.atlassian.net"),
    ("Box", "https://example.app.box.com"),
    ("Expensify", "https://www.expensify.com/signin"),
    ("Datadog", "https://app.datadoghq.com"),
    ("Figma", "https://www.figma.com/login"),
];
