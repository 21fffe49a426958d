//! Finding the profile a user means: by UUID, by name, or by a unique UUID prefix.
//!
//! Order: an exact UUID; an exact name; a name equal ignoring case; a UUID prefix of at least
//! [`MIN_UUID_PREFIX`] characters. The first rule that matches anything decides; if it matches
//! several profiles the query is ambiguous and the error lists them.

use profile::Profile;

/// Shortest UUID prefix accepted, so a short name is never taken for an id.
pub const MIN_UUID_PREFIX: usize = 4;

/// Why a query does not name exactly one profile.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matched.
    #[error("no profile is named \"{query}\"{}", known_text(.known))]
    NotFound {
        /// The query.
        query: String,
        /// The profiles there are, as `"Name" (uuid)`.
        known: Vec<String>,
    },
    /// Several profiles matched.
    #[error("\"{query}\" matches several profiles: {}; use the UUID", .candidates.join(", "))]
    Ambiguous {
        /// The query.
        query: String,
        /// The matching profiles, as `"Name" (uuid)`.
        candidates: Vec<String>,
    },
}

fn known_text(known: &[String]) -> String {
    if known.is_empty() {
        "; there are no profiles yet (add one with `tern import FILE`)".to_owned()
    } else {
        format!("; the profiles are: {}", known.join(", "))
    }
}

/// How a profile is named in messages: `"Name" (uuid)`.
#[must_use]
pub fn label(profile: &Profile) -> String {
    format!("\"{}\" ({})", profile.name, profile.id)
}

/// The one profile `query` names.
pub fn resolve<'a>(profiles: &'a [Profile], query: &str) -> Result<&'a Profile, ResolveError> {
    let query_trimmed = query.trim();
    let lower = query_trimmed.to_lowercase();
    let rules: [&dyn Fn(&Profile) -> bool; 4] = [
        &|p| p.id.to_string() == lower,
        &|p| p.name == query,
        &|p| p.name.to_lowercase() == lower,
        &|p| {
            lower.len() >= MIN_UUID_PREFIX
                && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                && p.id.to_string().starts_with(&lower)
        },
    ];
    for rule in rules {
        let matches: Vec<&Profile> = profiles.iter().filter(|p| rule(p)).collect();
        match matches.as_slice() {
            [] => {}
            [one] => return Ok(one),
            several => {
                return Err(ResolveError::Ambiguous {
                    query: query.to_owned(),
                    candidates: several.iter().map(|p| label(p)).collect(),
                });
            }
        }
    }
    Err(ResolveError::NotFound {
        query: query.to_owned(),
        known: profiles.iter().map(label).collect(),
    })
}

#[cfg(test)]
mod tests {
    use profile::{AuthMethod, Gateway, ProfileId};

    use super::*;

    fn profile(id: &str, name: &str) -> Profile {
        Profile::new(
            id.parse::<ProfileId>().unwrap(),
            name,
            Gateway::new("vpn.example.org"),
            AuthMethod::Psk,
        )
    }

    fn sample() -> Vec<Profile> {
        vec![
            profile("11111111-0000-4000-8000-000000000001", "Work"),
            profile("22222222-0000-4000-8000-000000000002", "work"),
            profile("33333333-0000-4000-8000-000000000003", "Home"),
            profile("33334444-0000-4000-8000-000000000004", "Lab"),
        ]
    }

    #[test]
    fn exact_uuid_and_name_win() {
        let all = sample();
        let by_id = resolve(&all, "22222222-0000-4000-8000-000000000002").unwrap();
        assert_eq!(by_id.name, "work");
        // UUIDs match in any case.
        let by_upper = resolve(
            &all,
            "22222222-0000-4000-8000-000000000002"
                .to_uppercase()
                .as_str(),
        );
        assert_eq!(by_upper.unwrap().name, "work");
        // An exact name beats a case-insensitive one.
        assert_eq!(resolve(&all, "Work").unwrap().id, all[0].id);
        assert_eq!(resolve(&all, "work").unwrap().id, all[1].id);
        assert_eq!(resolve(&all, "home").unwrap().name, "Home");
    }

    #[test]
    fn case_insensitive_ties_are_ambiguous() {
        let all = sample();
        let err = resolve(&all, "WORK").unwrap_err();
        let ResolveError::Ambiguous { candidates, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(candidates.len(), 2);
        assert!(err.to_string().contains("\"Work\" (11111111-"), "{err}");
        assert!(err.to_string().ends_with("use the UUID"), "{err}");
    }

    #[test]
    fn uuid_prefixes_must_be_unique_and_long_enough() {
        let all = sample();
        assert_eq!(resolve(&all, "1111").unwrap().name, "Work");
        assert!(matches!(
            resolve(&all, "3333").unwrap_err(),
            ResolveError::Ambiguous { .. }
        ));
        assert_eq!(resolve(&all, "33334").unwrap().name, "Lab");
        assert!(matches!(
            resolve(&all, "111").unwrap_err(),
            ResolveError::NotFound { .. }
        ));
    }

    #[test]
    fn not_found_lists_what_there_is() {
        let all = sample();
        let err = resolve(&all, "Office").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no profile is named \"Office\"; the profiles are: "),
            "{text}"
        );
        assert!(text.contains("\"Lab\" (33334444-"), "{text}");
        let none = resolve(&[], "Office").unwrap_err().to_string();
        assert!(none.contains("tern import FILE"), "{none}");
    }
}
