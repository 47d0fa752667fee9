"""Store: the tables, the engines, the SQL written by hand, and the migrations."""
