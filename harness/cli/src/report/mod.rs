//! What the reports are made of (design §8): one table model rendered as
//! Markdown and HTML ([`table`]), self-contained SVG charts ([`chart`]), and
//! the XML/HTML escaping every one of them writes through ([`xml`]).

pub mod chart;
pub mod table;
pub mod xml;
