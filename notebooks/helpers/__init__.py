"""Feature code shared by the data-science notebook and its sandbox."""
