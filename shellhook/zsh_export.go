package shellhook

// Export sets variables with export NAME=$'…' and unsets them with unset NAME, as for bash.
func (Zsh) Export(changes map[string]*string) string { return exportSh(changes, quoteANSIC) }
