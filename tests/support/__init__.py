"""What tests share besides fixtures: factories, harnesses and helpers. Test modules import only from here."""
