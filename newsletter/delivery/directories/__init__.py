"""Where the recipients come from: a company directory (LDAP / Active Directory, a Microsoft 365
group, a Google Workspace group), found through the `newsletter.directories` entry-point group."""
