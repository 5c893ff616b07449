"""The public website of Example Bank: ~420 pages with realistic paths and titles.

Each page has a kind (what sort of page it is, which sets dwell and how it is used: a `tool`
is a calculator, an `apply` page holds an application form) and the intents it serves (used
by behaviour.py to weight where each intent's visitors go). Product and apply pages carry
their product_id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clickintent.synth.intents import INTENTS
from clickintent.synth.products import PRODUCTS

BANK = "Example Bank"


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    kind: str
    intents: tuple[str, ...] = ()
    product_id: str | None = None


def slugify(title: str) -> str:
    text = title.lower().replace("401(k)", "401k").replace("&", "and").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _titled(title: str) -> str:
    return f"{title} | {BANK}"


HB, RF, DC, BC, TR = "home_buying", "refinancing", "debt_consolidation", "building_credit", "travel_rewards"
RT, ES, SB, CP, SL = "retirement", "emergency_savings", "small_business", "car_purchase", "student_loans"
SI, AS, FC = "starting_to_invest", "account_servicing", "fraud_concern"

# Which intents each product's pages serve (beyond the intents listing the product).
_PRODUCT_PAGE_INTENTS = {
    "chk_everyday": (AS, BC, ES),
    "chk_premier": (AS,),
    "chk_student": (SL, BC),
    "ins_home": (HB,),
    "ins_auto": (CP,),
    "ins_identity": (FC,),
}

# (path, title, kind, intents)
_SECTION_PAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("/mortgages", "Mortgages: Buy a Home With Confidence", "section", (HB, RF)),
    ("/mortgages/first-time-homebuyers", "First-Time Homebuyer Programs", "info", (HB,)),
    ("/mortgages/preapproval", "Get Preapproved for a Mortgage", "info", (HB,)),
    ("/mortgages/closing-costs", "Mortgage Closing Costs Explained", "info", (HB, RF)),
    ("/mortgages/down-payment-assistance", "Down Payment Assistance Programs", "info", (HB,)),
    ("/mortgages/jumbo-loans", "Jumbo Loans", "info", (HB,)),
    ("/mortgages/va-loans", "VA Home Loans", "info", (HB,)),
    ("/mortgages/how-the-process-works", "How the Mortgage Process Works", "info", (HB,)),
    ("/mortgages/compare-loan-types", "Compare Mortgage Loan Types", "compare", (HB,)),
    ("/mortgages/cash-out-refinance", "Cash-Out Refinance", "info", (RF,)),
    ("/mortgages/refinance/when-to-refinance", "Is It a Good Time to Refinance?", "info", (RF,)),
    ("/mortgages/faq", "Mortgage FAQs", "faq", (HB, RF)),
    ("/mortgages/loan-officers", "Find a Mortgage Loan Officer", "info", (HB, RF)),
    ("/home-equity", "Home Equity Loans and Lines of Credit", "section", (RF,)),
    ("/home-equity/home-equity-loan", "Home Equity Loan", "info", (RF,)),
    ("/home-equity/heloc-vs-home-equity-loan", "HELOC vs. Home Equity Loan", "compare", (RF,)),
    ("/home-equity/faq", "Home Equity FAQs", "faq", (RF,)),
    ("/credit-cards", "Credit Cards: Compare Rewards, Cash Back and Travel Cards", "section", (TR, BC, DC)),
    ("/credit-cards/compare", "Compare Credit Cards", "compare", (TR, BC, DC)),
    ("/credit-cards/travel", "Travel Credit Cards", "info", (TR,)),
    ("/credit-cards/cash-back", "Cash Back Credit Cards", "info", (TR, BC)),
    ("/credit-cards/balance-transfer", "Balance Transfer Credit Cards", "info", (DC,)),
    ("/credit-cards/build-credit", "Credit Cards to Build Credit", "info", (BC,)),
    ("/credit-cards/students", "Credit Cards for Students", "info", (BC, SL)),
    ("/credit-cards/prequalify", "See If You Prequalify for a Credit Card", "info", (TR, BC, DC)),
    ("/credit-cards/rewards-program", "Example Rewards Program", "info", (TR,)),
    ("/credit-cards/faq", "Credit Card FAQs", "faq", (TR, BC, DC)),
    ("/personal-loans", "Personal Loans", "section", (DC,)),
    ("/personal-loans/home-improvement", "Home Improvement Loans", "info", (DC, RF)),
    ("/personal-loans/prequalify", "Check Your Personal Loan Rate", "info", (DC,)),
    ("/personal-loans/faq", "Personal Loan FAQs", "faq", (DC,)),
    ("/auto-loans", "Auto Loans", "section", (CP,)),
    ("/auto-loans/used-car-loans", "Used Car Loans", "info", (CP,)),
    ("/auto-loans/private-party", "Private Party Auto Loans", "info", (CP,)),
    ("/auto-loans/dealer-network", "Find a Participating Dealer", "info", (CP,)),
    ("/auto-loans/faq", "Auto Loan FAQs", "faq", (CP,)),
    ("/student-loans", "Student Loans", "section", (SL,)),
    ("/student-loans/graduate", "Graduate Student Loans", "info", (SL,)),
    ("/student-loans/parent-loans", "Parent Loans for College", "info", (SL,)),
    ("/student-loans/compare-repayment", "Compare Student Loan Repayment Options", "compare", (SL,)),
    ("/student-loans/faq", "Student Loan FAQs", "faq", (SL,)),
    ("/checking", "Checking Accounts", "section", (AS, BC)),
    ("/checking/compare", "Compare Checking Accounts", "compare", (AS, ES)),
    ("/checking/overdraft-services", "Overdraft Services", "info", (AS,)),
    ("/checking/direct-deposit", "Set Up Direct Deposit", "info", (AS,)),
    ("/checking/open-an-account", "Open a Checking Account Online", "info", (BC, AS)),
    ("/checking/faq", "Checking FAQs", "faq", (AS,)),
    ("/savings", "Savings Accounts", "section", (ES,)),
    ("/savings/cds", "Certificates of Deposit (CDs)", "section", (ES,)),
    ("/savings/compare", "Compare Savings Accounts", "compare", (ES,)),
    ("/savings/kids-savings", "Savings Accounts for Kids", "info", (ES,)),
    ("/savings/emergency-fund", "Build Your Emergency Fund", "info", (ES,)),
    ("/savings/faq", "Savings FAQs", "faq", (ES,)),
    ("/investing", "Investing: Build Wealth Your Way", "section", (SI, RT)),
    ("/investing/etfs", "Exchange-Traded Funds (ETFs)", "info", (SI,)),
    ("/investing/stocks", "Trade Stocks Online", "info", (SI,)),
    ("/investing/pricing", "Investing Pricing and Fees", "info", (SI,)),
    ("/investing/compare", "Compare Investing Accounts", "compare", (SI, RT)),
    ("/investing/transfer-an-account", "Transfer an Investment Account", "info", (SI, RT)),
    ("/investing/faq", "Investing FAQs", "faq", (SI,)),
    ("/retirement", "Retirement Planning and IRAs", "section", (RT,)),
    ("/retirement/roth-vs-traditional-ira", "Roth vs. Traditional IRA", "compare", (RT, SI)),
    ("/retirement/planning", "Plan for Retirement", "info", (RT,)),
    ("/retirement/social-security", "Social Security and Your Retirement", "info", (RT,)),
    ("/retirement/income-strategies", "Retirement Income Strategies", "info", (RT,)),
    ("/retirement/advisors", "Talk to a Retirement Advisor", "info", (RT,)),
    ("/retirement/faq", "Retirement FAQs", "faq", (RT,)),
    ("/insurance", "Insurance: Life, Home, Auto and Identity", "section", (HB, CP)),
    ("/insurance/get-a-quote", "Get an Insurance Quote", "info", (CP, HB)),
    ("/insurance/faq", "Insurance FAQs", "faq", (CP, HB)),
    ("/small-business", "Small Business Banking", "section", (SB,)),
    ("/small-business/loans", "Small Business Loans", "section", (SB,)),
    ("/small-business/lines-of-credit", "Business Lines of Credit", "info", (SB,)),
    ("/small-business/payroll", "Payroll Services", "info", (SB,)),
    ("/small-business/compare-checking", "Compare Business Checking", "compare", (SB,)),
    ("/small-business/resources", "Small Business Resource Center", "info", (SB,)),
    ("/small-business/faq", "Small Business FAQs", "faq", (SB,)),
    ("/promotions/checking-bonus", "Earn a $300 Checking Bonus", "promotion", (AS, BC)),
    ("/promotions/savings-rate-special", "Limited-Time Savings Rate", "promotion", (ES,)),
    ("/promotions/travel-card-offer", "Earn 60,000 Bonus Points", "promotion", (TR,)),
    ("/promotions/refer-a-friend", "Refer a Friend", "promotion", ()),
)

_SECURITY_PAGES = (
    ("/security", "Security Center", "section"),
    ("/security/report-fraud", "Report Fraud", "security"),
    ("/security/identity-theft", "Identity Theft: What to Do", "security"),
    ("/security/phishing-and-scams", "Phishing and Scams", "security"),
    ("/security/zelle-scams", "Payment App Scams", "security"),
    ("/security/card-lock", "Lock and Unlock Your Card", "security"),
    ("/security/account-alerts", "Security Alerts", "security"),
    ("/security/two-step-verification", "Two-Step Verification", "security"),
    ("/security/data-breach-faq", "Data Breach FAQs", "security"),
    ("/security/elder-fraud", "Protecting Older Adults From Fraud", "security"),
    ("/security/protect-your-accounts", "How We Protect Your Accounts", "security"),
)

# (slug, title, intents)
_HELP_TOPICS = (
    ("routing-number", "Find Your Routing Number", (AS,)),
    ("reset-password", "Reset Your Password", (AS, FC)),
    ("unlock-online-access", "Unlock Online Banking Access", (AS, FC)),
    ("order-checks", "Order Checks", (AS,)),
    ("direct-deposit-form", "Get a Direct Deposit Form", (AS,)),
    ("mobile-check-deposit", "Mobile Check Deposit", (AS,)),
    ("zelle-limits", "Zelle Sending Limits", (AS,)),
    ("wire-transfer-instructions", "Wire Transfer Instructions", (AS,)),
    ("change-address", "Change Your Address", (AS,)),
    ("update-phone-number", "Update Your Phone Number", (AS,)),
    ("paperless-statements", "Go Paperless", (AS,)),
    ("download-statements", "Download Statements", (AS,)),
    ("tax-forms", "Tax Forms and 1099s", (AS, RT, SI)),
    ("overdraft-fees", "Overdraft Fees", (AS,)),
    ("stop-payment", "Stop a Payment", (AS,)),
    ("close-an-account", "Close an Account", (AS,)),
    ("add-joint-owner", "Add a Joint Owner", (AS,)),
    ("beneficiaries", "Add or Change Beneficiaries", (AS, RT)),
    ("foreign-atm-fees", "ATM and Foreign Transaction Fees", (AS, TR)),
    ("activate-card", "Activate Your Card", (AS,)),
    ("replace-damaged-card", "Replace a Damaged Card", (AS,)),
    ("lost-or-stolen-card", "Report a Lost or Stolen Card", (FC,)),
    ("dispute-a-charge", "Dispute a Charge", (FC, AS)),
    ("suspicious-email", "Report a Suspicious Email or Text", (FC,)),
    ("locked-account", "Why Is My Account Locked?", (FC, AS)),
    ("account-alerts", "Set Up Account Alerts", (AS, FC)),
    ("pending-transactions", "Pending Transactions", (AS,)),
    ("deposit-holds", "Holds on Deposits", (AS,)),
    ("mortgage-payment", "Make a Mortgage Payment", (AS, RF)),
    ("escrow-analysis", "Understanding Your Escrow Analysis", (AS, RF)),
    ("loan-payment", "Make a Loan Payment", (AS,)),
    ("payoff-quote", "Request a Payoff Quote", (AS, CP, RF)),
    ("credit-limit-increase", "Request a Credit Limit Increase", (AS, BC)),
    ("balance-transfer-status", "Check Balance Transfer Status", (DC,)),
    ("redeem-rewards", "Redeem Your Rewards", (TR,)),
    ("travel-notice", "Traveling Abroad With Your Card", (TR, AS)),
    ("ira-contributions", "Make an IRA Contribution", (RT,)),
    ("transfer-brokerage-assets", "Transfer Assets to Your Brokerage Account", (SI,)),
    ("business-online-banking", "Business Online Banking Help", (SB,)),
    ("application-status", "Check Your Application Status", (HB, DC, CP, SL)),
    ("accessibility-services", "Accessibility Services", ()),
    ("contact-us", "Contact Customer Service", (AS,)),
)

_ARTICLES: dict[str | None, tuple[str, ...]] = {
    HB: (
        "How Much House Can I Afford?",
        "First-Time Homebuyer's Guide: From Preapproval to Closing",
        "What Is Mortgage Preapproval and How Do You Get It?",
        "How Much Should You Put Down on a House?",
        "Fixed-Rate vs. Adjustable-Rate Mortgages",
        "What Are Closing Costs and Who Pays Them?",
        "FHA Loans Explained: Requirements and Limits",
        "Understanding Mortgage Points and Rate Locks",
        "Renting vs. Buying a Home: How to Decide",
        "What Is PMI and How Do You Remove It?",
        "How Your Credit Score Affects Your Mortgage Rate",
    ),
    RF: (
        "When Does Refinancing Your Mortgage Make Sense?",
        "Cash-Out Refinance vs. HELOC: Which Is Right for You?",
        "What Is a HELOC and How Does It Work?",
        "How to Calculate Your Refinance Break-Even Point",
        "Refinancing From a 30-Year to a 15-Year Mortgage",
        "How Home Equity Is Calculated",
        "Using Home Equity for Renovations",
        "Refinance Closing Costs: What to Expect",
        "Should You Refinance to Remove PMI?",
    ),
    DC: (
        "How Debt Consolidation Loans Work",
        "Balance Transfer vs. Personal Loan for Credit Card Debt",
        "The Debt Avalanche vs. Debt Snowball Method",
        "Will Consolidating Debt Hurt Your Credit Score?",
        "How to Get Out of Credit Card Debt",
        "What Is a Good Debt-to-Income Ratio?",
        "Personal Loan Rates: What Affects Your APR",
        "How Balance Transfer Fees Work",
        "Prequalifying for a Personal Loan Without a Hard Inquiry",
    ),
    BC: (
        "How to Build Credit From Scratch",
        "What Is a Secured Credit Card?",
        "How Credit Scores Are Calculated",
        "Credit Utilization: Why It Matters",
        "How Long Does It Take to Build Credit?",
        "Becoming an Authorized User to Build Credit",
        "How to Read Your Credit Report",
        "Rebuilding Credit After a Missed Payment",
        "Your First Credit Card: What to Look For",
    ),
    TR: (
        "How Travel Rewards Credit Cards Work",
        "Points vs. Miles vs. Cash Back",
        "What Are Foreign Transaction Fees?",
        "Is a Premium Travel Card Worth the Annual Fee?",
        "How to Redeem Points for Flights and Hotels",
        "Airport Lounge Access Explained",
        "Travel Insurance Benefits on Credit Cards",
        "Maximizing Sign-Up Bonuses Responsibly",
        "Using Your Card Abroad: A Checklist",
    ),
    RT: (
        "How Much Do You Need to Retire?",
        "Roth IRA vs. Traditional IRA: Which Is Better for You?",
        "How to Roll Over a 401(k) When You Change Jobs",
        "Required Minimum Distributions Explained",
        "Catch-Up Contributions After 50",
        "When Should You Claim Social Security?",
        "Building a Retirement Income Plan",
        "Target-Date Funds Explained",
        "IRA Contribution Limits for 2026",
        "Retiring Early: How to Plan for It",
    ),
    ES: (
        "How Big Should Your Emergency Fund Be?",
        "High-Yield Savings Accounts Explained",
        "CDs vs. High-Yield Savings",
        "What Is APY and How Is It Calculated?",
        "Money Market Accounts vs. Savings Accounts",
        "How to Build a Savings Habit",
        "Where to Keep Your Emergency Fund",
        "How CD Laddering Works",
        "Automating Your Savings",
    ),
    SB: (
        "How to Open a Business Bank Account",
        "SBA Loans: Types, Rates and Requirements",
        "Separating Business and Personal Finances",
        "How to Accept Card Payments as a Small Business",
        "Business Credit Cards vs. Personal Cards for Business",
        "Managing Cash Flow in a Small Business",
        "Writing a Business Plan for a Loan Application",
        "What Documents Do You Need for a Business Loan?",
        "Building Business Credit",
    ),
    CP: (
        "How Much Car Can I Afford?",
        "New vs. Used Car Financing",
        "How Auto Loan Rates Are Set",
        "Should You Finance Through the Dealer or Your Bank?",
        "Getting Preapproved for an Auto Loan",
        "When to Refinance an Auto Loan",
        "How Loan Term Affects Your Car Payment",
        "Gap Insurance Explained",
        "Trading In a Car With a Loan Balance",
    ),
    SL: (
        "Federal vs. Private Student Loans",
        "How to Pay for College: A Guide for Families",
        "Student Loan Refinancing: Pros and Cons",
        "Understanding Student Loan Interest",
        "Cosigning a Student Loan",
        "Income-Driven Repayment Plans Explained",
        "Filling Out the FAFSA",
        "Paying Off Student Loans Faster",
        "Graduate School Loans Explained",
    ),
    SI: (
        "How to Start Investing With Little Money",
        "Stocks, Bonds and ETFs Explained",
        "Index Funds vs. Actively Managed Funds",
        "What Is Dollar-Cost Averaging?",
        "Robo-Advisors vs. Self-Directed Investing",
        "How Compound Interest Grows Your Money",
        "Understanding Investment Risk and Diversification",
        "How to Open a Brokerage Account",
        "Investing for Beginners: Common Mistakes",
        "How Are Investments Taxed?",
    ),
    AS: (
        "How to Set Up Direct Deposit",
        "Sending Money With Zelle",
        "How to Deposit a Check With Your Phone",
        "Setting Up Automatic Bill Pay",
        "Understanding Your Bank Statement",
        "How Overdraft Protection Works",
        "Wire Transfers: Domestic and International",
        "Managing Account Alerts",
    ),
    FC: (
        "How to Spot a Phishing Email",
        "What to Do If Your Card Is Lost or Stolen",
        "Common Bank Impersonation Scams",
        "How to Protect Yourself From Identity Theft",
        "What to Do After a Data Breach",
        "Payment App Scams: How to Stay Safe",
        "How to Dispute an Unauthorized Charge",
        "Freezing Your Credit: A Step-by-Step Guide",
    ),
    None: (
        "What Is APR?",
        "How Interest Works on Loans and Savings",
        "Creating a Monthly Budget",
        "Financial Goals for Every Life Stage",
        "Understanding Your Net Worth",
        "How Inflation Affects Your Money",
        "How to Choose a Bank",
        "Banking Terms Glossary",
    ),
}

# (slug, title, intents)
_TOOLS = (
    ("mortgage-calculator", "Mortgage Calculator", (HB, RF)),
    ("home-affordability-calculator", "Home Affordability Calculator", (HB,)),
    ("rent-vs-buy-calculator", "Rent vs. Buy Calculator", (HB,)),
    ("closing-cost-calculator", "Closing Cost Calculator", (HB, RF)),
    ("refinance-calculator", "Mortgage Refinance Calculator", (RF,)),
    ("heloc-calculator", "HELOC Payment Calculator", (RF,)),
    ("home-equity-calculator", "Home Equity Calculator", (RF,)),
    ("debt-consolidation-calculator", "Debt Consolidation Calculator", (DC,)),
    ("credit-card-payoff-calculator", "Credit Card Payoff Calculator", (DC, BC)),
    ("personal-loan-calculator", "Personal Loan Calculator", (DC,)),
    ("credit-score-simulator", "Credit Score Simulator", (BC, DC)),
    ("travel-rewards-calculator", "Travel Rewards Value Calculator", (TR,)),
    ("retirement-calculator", "Retirement Calculator", (RT,)),
    ("ira-calculator", "IRA Contribution Calculator", (RT, SI)),
    ("401k-rollover-calculator", "401(k) Rollover Calculator", (RT,)),
    ("savings-goal-calculator", "Savings Goal Calculator", (ES,)),
    ("emergency-fund-calculator", "Emergency Fund Calculator", (ES,)),
    ("cd-calculator", "CD Calculator", (ES,)),
    ("business-loan-calculator", "Business Loan Calculator", (SB,)),
    ("auto-loan-calculator", "Auto Loan Calculator", (CP,)),
    ("car-affordability-calculator", "Car Affordability Calculator", (CP,)),
    ("student-loan-repayment-calculator", "Student Loan Repayment Calculator", (SL,)),
    ("compound-interest-calculator", "Compound Interest Calculator", (SI, ES)),
    ("investment-return-calculator", "Investment Return Calculator", (SI,)),
    ("budget-planner", "Monthly Budget Planner", (ES, DC)),
)

# Extra rates pages (beyond the per-product ones) and their intents.
_RATES_PAGES = (
    ("/rates", "Today's Rates", "section", ()),
    ("/rates/mortgage", "Mortgage Rates Today", "rates", (HB,)),
    ("/rates/cds", "CD Rates Today", "rates", (ES,)),
    ("/rates/savings", "Savings Account Rates", "rates", (ES,)),
    ("/rates/home-equity", "Home Equity Rates Today", "rates", (RF,)),
    ("/rates/credit-cards", "Credit Card APRs", "rates", (TR, BC, DC)),
)

_STATES = (
    "arizona",
    "california",
    "colorado",
    "florida",
    "georgia",
    "illinois",
    "new-jersey",
    "new-york",
    "north-carolina",
    "ohio",
    "texas",
    "washington",
)
_CITIES = (
    "atlanta",
    "austin",
    "boston",
    "charlotte",
    "chicago",
    "dallas",
    "denver",
    "houston",
    "miami",
    "new-york",
    "philadelphia",
    "phoenix",
    "san-diego",
    "san-francisco",
    "seattle",
    "tampa",
)

_ABOUT_PAGES = (
    ("/about", "About Example Bank"),
    ("/about/careers", "Careers"),
    ("/about/newsroom", "Newsroom"),
    ("/about/leadership", "Our Leadership"),
    ("/about/community", "Community Commitment"),
    ("/about/contact-us", "Contact Us"),
    ("/about/privacy", "Privacy Notice"),
    ("/about/terms-of-use", "Terms of Use"),
    ("/about/accessibility", "Accessibility"),
    ("/about/locations", "Find a Branch or ATM"),
)

ONLINE_BANKING_PAGES = (
    ("/online-banking/accounts", "Account Summary"),
    ("/online-banking/activity", "Account Activity"),
    ("/online-banking/statements", "Statements and Documents"),
    ("/online-banking/transfers", "Transfers"),
    ("/online-banking/bill-pay", "Bill Pay"),
    ("/online-banking/settings", "Profile and Settings"),
)

# Paths that do not exist on the site, probed by vulnerability scanners.
JUNK_PATHS = (
    "/wp-admin",
    "/wp-login.php",
    "/.env",
    "/xmlrpc.php",
    "/.git/config",
    "/phpmyadmin",
    "/admin.php",
    "/wp-content/plugins/revslider",
    "/cgi-bin/test.cgi",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.aws/credentials",
    "/server-status",
    "/actuator/env",
    "/config.json",
    "/backup.zip",
)


def _title_case_state(slug: str) -> str:
    return slug.replace("-", " ").title()


def build_web_pages() -> list[Page]:
    """Every page of the public site, in a fixed order."""
    pages: list[Page] = [
        Page("/", _titled("Banking, Credit Cards, Mortgages and Investing"), "home"),
        Page("/search", _titled("Search Results"), "search"),
        Page("/login", _titled("Sign In to Online Banking"), "login"),
        Page("/sitemap", _titled("Site Map"), "about"),
        Page("/learn", _titled("Financial Education Center"), "section"),
        Page("/tools", _titled("Financial Calculators and Tools"), "section"),
        Page("/help", _titled("Help Center"), "section", (AS,)),
    ]
    for path, title, kind, intents in _SECTION_PAGES:
        pages.append(Page(path, _titled(title), kind, intents))
    for product in PRODUCTS:
        listed = tuple(spec_name for spec_name in _intents_listing(product.product_id))
        intents = tuple(dict.fromkeys(listed + _PRODUCT_PAGE_INTENTS.get(product.product_id, ())))
        pages.append(Page(product.page_path, _titled(product.name), "product", intents, product.product_id))
        pages.append(Page(f"/apply/{product.apply_slug}", _titled(_apply_title(product)), "apply", intents, product.product_id))
        if product.rates_path:
            pages.append(Page(product.rates_path, _titled(f"{product.name} Rates Today"), "rates", intents, product.product_id))
    for path, title, kind, intents in _RATES_PAGES:
        pages.append(Page(path, _titled(title), kind, intents))
    for slug, title, intents in _TOOLS:
        pages.append(Page(f"/tools/{slug}", _titled(title), "tool", intents))
    for intent, titles in _ARTICLES.items():
        for title in titles:
            pages.append(Page(f"/learn/{slugify(title)}", _titled(title), "article", (intent,) if intent else ()))
    for slug, title, intents in _HELP_TOPICS:
        pages.append(Page(f"/help/{slug}", _titled(title), "help", intents))
    for path, title, kind in _SECURITY_PAGES:
        pages.append(Page(path, _titled(title), kind, (FC,)))
    for state in _STATES:
        pages.append(
            Page(
                f"/mortgages/loan-officers/{state}", _titled(f"Mortgage Loan Officers in {_title_case_state(state)}"), "location", (HB, RF)
            )
        )
    for path, title in _ABOUT_PAGES:
        pages.append(Page(path, _titled(title), "about"))
    for city in _CITIES:
        pages.append(Page(f"/about/locations/{city}", _titled(f"Branches and ATMs in {_title_case_state(city)}"), "location"))
    for path, title in ONLINE_BANKING_PAGES:
        pages.append(Page(path, _titled(title), "online_banking"))
    paths = [page.path for page in pages]
    if len(paths) != len(set(paths)):
        duplicated = sorted({p for p in paths if paths.count(p) > 1})
        raise AssertionError(f"duplicate page paths: {duplicated}")
    return pages


def _apply_title(product) -> str:
    if product.family in ("deposits", "investing"):
        return f"Open {product.name} Online"
    if product.family == "insurance":
        return f"Get a Quote: {product.name}"
    if product.category == "merchant_services":
        return "Get Started With Merchant Services"
    return f"Apply for the {product.name}"


def _intents_listing(product_id: str) -> list[str]:
    return [spec.name for spec in INTENTS if product_id in spec.products]


# ---- app screens -------------------------------------------------------------------------------

# (path, title, intents)
APP_SCREENS = (
    ("/app/accounts/overview", "Accounts", (AS,)),
    ("/app/accounts/activity", "Account Activity", (AS,)),
    ("/app/accounts/statements", "Statements", (AS,)),
    ("/app/accounts/details", "Account Details", (AS,)),
    ("/app/transfers/new", "New Transfer", (AS,)),
    ("/app/transfers/scheduled", "Scheduled Transfers", (AS,)),
    ("/app/transfers/zelle", "Send Money With Zelle", (AS,)),
    ("/app/transfers/external-accounts", "External Accounts", (AS,)),
    ("/app/bill-pay/payees", "Payees", (AS,)),
    ("/app/bill-pay/new", "Pay a Bill", (AS,)),
    ("/app/deposits/mobile-check", "Deposit a Check", (AS,)),
    ("/app/cards/overview", "Cards", (AS, TR)),
    ("/app/cards/controls", "Card Controls", (FC,)),
    ("/app/cards/lock", "Lock Card", (FC,)),
    ("/app/cards/report-lost", "Report Lost or Stolen", (FC,)),
    ("/app/cards/replace", "Replace Card", (FC,)),
    ("/app/cards/travel-notice", "Travel Notice", (TR,)),
    ("/app/cards/rewards", "Rewards", (TR,)),
    ("/app/cards/balance-transfer", "Balance Transfer", (DC,)),
    ("/app/security/alerts", "Security Alerts", (FC,)),
    ("/app/security/settings", "Security Settings", (FC,)),
    ("/app/security/devices", "Trusted Devices", (FC,)),
    ("/app/security/report-fraud", "Report Fraud", (FC,)),
    ("/app/security/disputes", "Disputes", (FC,)),
    ("/app/profile/settings", "Profile", (AS,)),
    ("/app/profile/notifications", "Notifications", (AS, FC)),
    ("/app/profile/documents", "Documents", (AS,)),
    ("/app/help/chat", "Chat With Us", (AS, FC)),
    ("/app/help/faq", "Help", (AS,)),
    ("/app/investing/portfolio", "Portfolio", (SI, RT)),
    ("/app/investing/trade", "Trade", (SI,)),
    ("/app/investing/retirement-planner", "Retirement Planner", (RT,)),
    ("/app/loans/overview", "Loans", (DC, CP, SL)),
    ("/app/loans/payment", "Make a Loan Payment", (DC, CP, SL)),
    ("/app/mortgage/overview", "Mortgage", (RF, HB)),
    ("/app/mortgage/escrow", "Escrow", (RF,)),
    ("/app/credit-score/overview", "Credit Score", (BC, HB, DC, CP)),
    ("/app/savings/goals", "Savings Goals", (ES,)),
    ("/app/savings/round-ups", "Round-Ups", (ES,)),
    ("/app/business/overview", "Business Accounts", (SB,)),
    ("/app/business/invoices", "Invoices", (SB,)),
)
APP_HOME = ("/app/home", "Home")
APP_SEARCH = ("/app/search", "Search")

# Screen a customer opens for a product family they hold (holdings drive servicing).
FAMILY_SCREEN = {
    "deposits": "/app/accounts/activity",
    "cards": "/app/cards/overview",
    "lending": "/app/loans/overview",
    "home": "/app/mortgage/overview",
    "investing": "/app/investing/portfolio",
    "insurance": "/app/profile/documents",
    "business": "/app/business/overview",
}
