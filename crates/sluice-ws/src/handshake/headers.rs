//! An owned, ordered list of header fields as received.

/// Header fields of a handshake head, in the order received, names as sent.
///
/// Lookups are ASCII case-insensitive on the name (RFC 9110 §5.1). Values are raw bytes as
/// received (httparse strips surrounding whitespace).
///
/// `Debug` shows the fields as text (`{"Host": "example.com", …}`; bytes that are not UTF-8 as
/// U+FFFD).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl Headers {
    /// The value of the first field called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, name: &str, value: &[u8]) {
        self.entries.push((name.to_owned(), value.to_vec()));
    }

    /// The single value of a field that must appear at most once: `Ok(None)` if absent,
    /// `Err(())` if repeated.
    pub(crate) fn single(&self, name: &str) -> Result<Option<&[u8]>, ()> {
        let mut all = self.get_all(name);
        let first = all.next();
        if all.next().is_some() {
            return Err(());
        }
        Ok(first)
    }

    /// All values of `name` joined as one comma list (RFC 9110 §5.3), `None` if absent.
    pub(crate) fn combined(&self, name: &str) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for v in self.get_all(name) {
            match &mut out {
                None => out = Some(v.to_vec()),
                Some(o) => {
                    o.push(b',');
                    o.extend_from_slice(v);
                }
            }
        }
        out
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a [u8])> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}
