"""Pictures: the drawing kit, preview sheets and ``sacrop explain``'s picture."""
