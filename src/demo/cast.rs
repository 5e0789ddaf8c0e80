//! Who is in the demo market: four organizations and their licensing teams. The
//! passwords are printed by `cadenza demo` and used by `docs/guide.md`.

/// One member of a licensing team. The first member of an organization registers
/// it (and is its owner); the others join by invitation.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub name: &'static str,
    pub email: &'static str,
    pub role: &'static str,
    pub password: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Organization {
    pub name: &'static str,
    /// `platform`, `label` or `publisher`.
    pub kind: &'static str,
    pub members: &'static [Member],
}

impl Organization {
    pub fn owner(&self) -> &'static Member {
        &self.members[0]
    }
}

/// A large platform: licenses its big catalog out.
pub const AURORA: Organization = Organization {
    name: "Aurora Music",
    kind: "platform",
    members: &[
        Member {
            name: "Lena Hartmann",
            email: "lena@aurora.example",
            role: "owner",
            password: "aurora-owner-demo",
        },
        Member {
            name: "Marco Silva",
            email: "marco@aurora.example",
            role: "negotiator",
            password: "aurora-negotiator-demo",
        },
        Member {
            name: "Priya Nair",
            email: "priya@aurora.example",
            role: "signer",
            password: "aurora-signer-demo",
        },
        Member {
            name: "Tom Becker",
            email: "tom@aurora.example",
            role: "viewer",
            password: "aurora-viewer-demo",
        },
    ],
};

/// A large platform: licenses music in.
pub const BOREALIS: Organization = Organization {
    name: "Borealis Streaming",
    kind: "platform",
    members: &[
        Member {
            name: "Ingrid Lund",
            email: "ingrid@borealis.example",
            role: "owner",
            password: "borealis-owner-demo",
        },
        Member {
            name: "Kenji Sato",
            email: "kenji@borealis.example",
            role: "negotiator",
            password: "borealis-negotiator-demo",
        },
        Member {
            name: "Sofia Rossi",
            email: "sofia@borealis.example",
            role: "signer",
            password: "borealis-signer-demo",
        },
    ],
};

/// A small platform: an online radio, one person does everything.
pub const COBALT: Organization = Organization {
    name: "Cobalt Radio",
    kind: "platform",
    members: &[Member {
        name: "Amara Okafor",
        email: "amara@cobalt.example",
        role: "owner",
        password: "cobalt-owner-demo",
    }],
};

/// A small independent label with a catalog of its own.
pub const DUNE: Organization = Organization {
    name: "Dune Records",
    kind: "label",
    members: &[
        Member {
            name: "Yusuf Demir",
            email: "yusuf@dune.example",
            role: "owner",
            password: "dune-owner-demo",
        },
        Member {
            name: "Elena Petrova",
            email: "elena@dune.example",
            role: "negotiator",
            password: "dune-negotiator-demo",
        },
    ],
};

pub const ORGANIZATIONS: [Organization; 4] = [AURORA, BOREALIS, COBALT, DUNE];
