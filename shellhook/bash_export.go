package shellhook

// Export sets variables with export NAME=$'…' and unsets them with unset NAME.
func (Bash) Export(changes map[string]*string) string { return exportSh(changes, quoteANSIC) }
