//! Word lists for the generated directory: names, sites, departments and policies, so the demo
//! looks like a real multinational's AD and not like "user00042".

pub const GIVEN_NAMES: &[&str] = &[
    "Aaron", "Abigail", "Adam", "Adriana", "Ahmed", "Aisha", "Alan", "Alice", "Amara", "Amelia",
    "Ana", "Andrew", "Anika", "Anna", "Anthony", "Arjun", "Ava", "Benjamin", "Bianca", "Boris",
    "Bram", "Brian", "Camille", "Carlos", "Carmen", "Catherine", "Chen", "Chloe", "Christopher",
    "Claire", "Daan", "Daniel", "David", "Deepa", "Diego", "Dmitri", "Elena", "Eliza", "Emily",
    "Emma", "Eric", "Erik", "Eva", "Fatima", "Felix", "Femke", "Fiona", "Florian", "Gabriel",
    "Grace", "Hannah", "Hans", "Hiroshi", "Ian", "Ingrid", "Isabel", "Ivan", "Jack", "James",
    "Jan", "Jasper", "Javier", "Jennifer", "Jessica", "Jin", "Joanna", "John", "Jonas", "Jose",
    "Julia", "Karin", "Kate", "Kenji", "Kevin", "Lars", "Laura", "Lea", "Leon", "Li", "Liam",
    "Lily", "Lucas", "Lucia", "Luis", "Maarten", "Maria", "Mark", "Marta", "Matthew", "Mei",
    "Michael", "Michelle", "Mohammed", "Nadia", "Naomi", "Nathan", "Nikhil", "Noah", "Nora",
    "Olga", "Oliver", "Olivia", "Omar", "Pablo", "Patrick", "Paul", "Pieter", "Priya", "Rachel",
    "Rahul", "Raj", "Rebecca", "Ricardo", "Robert", "Rosa", "Ruben", "Ryan", "Saanvi", "Sam",
    "Samuel", "Sander", "Sara", "Sebastian", "Sofia", "Sophie", "Stefan", "Sven", "Tanvir",
    "Thomas", "Tim", "Tom", "Valentina", "Victor", "Wei", "William", "Xin", "Yara", "Yusuf", "Zoe",
];

pub const SURNAMES: &[&str] = &[
    "Abbott", "Adams", "Aguilar", "Ahmed", "Ali", "Andersen", "Bakker", "Banerjee", "Barnes",
    "Becker", "Bennett", "Berg", "Bianchi", "Bos", "Brown", "Campbell", "Castro", "Chan", "Chen",
    "Clarke", "Cohen", "Collins", "Cooper", "Costa", "Das", "Davies", "de Boer", "de Groot",
    "de Jong", "de Vries", "Dekker", "Diaz", "Dijkstra", "Dubois", "Edwards", "Evans", "Fernandes",
    "Fischer", "Fisher", "Fontaine", "Garcia", "Gomez", "Gonzalez", "Green", "Gupta", "Hall",
    "Hansen", "Harris", "Hendriks", "Hernandez", "Hoffmann", "Hughes", "Hussain", "Iyer", "Jackson",
    "Jansen", "Jensen", "Johansson", "Johnson", "Jones", "Kaur", "Khan", "Kim", "King", "Klein",
    "Koch", "Kowalski", "Kumar", "Lam", "Larsen", "Lee", "Lewis", "Li", "Lim", "Lin", "Liu",
    "Lopez", "Martin", "Martinez", "Meijer", "Menon", "Meyer", "Miller", "Mitchell", "Molina",
    "Moore", "Morales", "Morris", "Mueller", "Murphy", "Nair", "Ng", "Nguyen", "Nielsen", "Novak",
    "O'Brien", "Okafor", "Olsen", "Ortiz", "Park", "Patel", "Perez", "Peters", "Petrov", "Phillips",
    "Popescu", "Rao", "Reddy", "Reyes", "Richter", "Roberts", "Robinson", "Rodriguez", "Romano",
    "Rossi", "Russo", "Sanchez", "Santos", "Schmidt", "Schneider", "Schulz", "Scott", "Shah",
    "Sharma", "Silva", "Singh", "Smit", "Smith", "Tan", "Taylor", "Thomas", "Thompson", "Torres",
    "van Dam", "van den Berg", "van Dijk", "van Leeuwen", "Visser", "Vos", "Wagner", "Walker",
    "Wang", "Watanabe", "Weber", "White", "Williams", "Wilson", "Wong", "Wright", "Wu", "Yamamoto",
    "Yilmaz", "Young", "Zhang", "Zhao", "Zimmermann",
];

/// A site: its OU, its Lync registrar pool and the shape of its phone numbers.
pub struct Site {
    pub ou: &'static str,
    pub code: &'static str,
    pub pool: &'static str,
    pub tel_prefix: &'static str,
    /// Relative head count.
    pub weight: u32,
}

pub const SITES: &[Site] = &[
    Site { ou: "Amsterdam", code: "ams", pool: "lyncpool-ams.contoso.com", tel_prefix: "+3120555", weight: 45 },
    Site { ou: "New York", code: "nyc", pool: "lyncpool-nyc.contoso.com", tel_prefix: "+1212555", weight: 40 },
    Site { ou: "Singapore", code: "sin", pool: "sfbpool-sin.contoso.com", tel_prefix: "+656555", weight: 15 },
];

pub struct Department {
    pub name: &'static str,
    pub titles: &'static [&'static str],
    pub manager_title: &'static str,
    pub weight: u32,
}

pub const DEPARTMENTS: &[Department] = &[
    Department {
        name: "Engineering",
        titles: &["Software Engineer", "Senior Software Engineer", "QA Analyst", "DevOps Engineer", "Site Reliability Engineer"],
        manager_title: "Engineering Manager",
        weight: 22,
    },
    Department {
        name: "Sales",
        titles: &["Account Executive", "Sales Development Representative", "Key Account Manager"],
        manager_title: "Regional Sales Manager",
        weight: 18,
    },
    Department {
        name: "Customer Support",
        titles: &["Support Engineer", "Customer Success Manager", "Support Specialist"],
        manager_title: "Support Team Lead",
        weight: 14,
    },
    Department {
        name: "Operations",
        titles: &["Operations Analyst", "Logistics Coordinator", "Facilities Coordinator"],
        manager_title: "Operations Manager",
        weight: 12,
    },
    Department {
        name: "Finance",
        titles: &["Accountant", "Financial Analyst", "Payroll Specialist"],
        manager_title: "Finance Manager",
        weight: 8,
    },
    Department {
        name: "Marketing",
        titles: &["Marketing Specialist", "Content Manager", "Brand Manager"],
        manager_title: "Marketing Director",
        weight: 8,
    },
    Department {
        name: "IT",
        titles: &["Systems Administrator", "Service Desk Analyst", "Network Engineer", "Unified Communications Engineer"],
        manager_title: "IT Manager",
        weight: 8,
    },
    Department {
        name: "Human Resources",
        titles: &["HR Business Partner", "Recruiter", "HR Generalist"],
        manager_title: "HR Manager",
        weight: 6,
    },
    Department {
        name: "Legal",
        titles: &["Legal Counsel", "Paralegal", "Compliance Officer"],
        manager_title: "General Counsel",
        weight: 4,
    },
];

/// Per-user policy assignments seen in real deployments, by kind.
pub const POLICY_NAMES: &[(deprov_wire::cmdlet::PolicyKind, &[&str])] = {
    use deprov_wire::cmdlet::PolicyKind::*;
    &[
        (Conferencing, &["Tag:AllowRecording", "Tag:NoRecording", "Tag:ExternalMeetings"]),
        (ExternalAccess, &["Tag:FederationAndPICDefault", "Tag:NoExternalAccess", "Tag:FederationOnly"]),
        (Client, &["Tag:ClientPolicyNoSavePassword", "Tag:ClientPolicyDisableEmoticons"]),
        (Voice, &["Tag:International", "Tag:National", "Tag:InternalOnly"]),
        (Archiving, &["Tag:ArchiveInternalAndExternal", "Tag:NoArchiving"]),
        (Mobility, &["Tag:MobilityEnabled", "Tag:NoMobility"]),
    ]
};

pub const DEVICES: &[&str] = &[
    "Lync 2013 (Windows)",
    "Skype for Business 2016 (Windows)",
    "Lync 2010 (Windows)",
    "Lync for Mac 2011",
    "Lync 2013 Mobile (iOS)",
    "Lync 2013 Mobile (Android)",
    "Lync Web App",
];
