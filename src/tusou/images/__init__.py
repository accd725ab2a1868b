"""Image intake: decoding, validation by kind, safe URL fetching and content signatures."""
