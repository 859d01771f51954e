"""A local stand-in for Microsoft Entra ID and Graph: real HTTP, scenario-driven, no secrets that work elsewhere."""
