"""The product catalog of Example Bank: 37 products in the contract's 7 families.

One product (the Horizon Premium Travel Card) launches mid-window; nothing refers to it before
its launch (its pages are served as the older travel card's, tiles never show it, conversions
go to the older card).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from clickintent.synth.timeline import us_since_start


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    family: str
    category: str
    page_path: str  # the public product page
    apply_slug: str  # /apply/<apply_slug>
    annual_fee_usd: float | None
    interest_rate_pct: float | None
    min_opening_usd: float | None
    target_segment: str | None
    complexity: int  # 1 open in minutes .. 3 weeks of research
    launched: datetime
    popularity: float  # weight in the app's existing popularity-based tile rule
    approval_rate: float  # share of submitted applications that are opened
    decision_hours: tuple[float, float]  # log-uniform range from application to account opening
    rates_path: str | None = None  # /rates/... page for rate-driven products


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


LAUNCHED_PRODUCT_ID = "card_horizon_travel"
LAUNCH_REPLACES_ID = "card_voyager_travel"  # what pre-launch demand for the new card falls back to

PRODUCTS: tuple[Product, ...] = (
    # deposits
    Product("chk_everyday", "Everyday Checking", "deposits", "checking", "/checking/everyday-checking", "everyday-checking",
            0.0, 0.01, 25.0, "mass", 1, _utc(2009, 3, 2), 3.0, 0.95, (0.05, 2.0)),
    Product("chk_premier", "Premier Relationship Checking", "deposits", "checking", "/checking/premier-relationship-checking",
            "premier-relationship-checking", 0.0, 0.05, 100.0, "affluent", 1, _utc(2014, 6, 9), 1.2, 0.9, (0.1, 4.0)),
    Product("chk_student", "Student Checking", "deposits", "checking", "/checking/student-checking", "student-checking",
            0.0, 0.01, 0.0, "student", 1, _utc(2016, 8, 1), 0.8, 0.95, (0.05, 2.0)),
    Product("sav_high_yield", "High-Yield Savings", "deposits", "savings", "/savings/high-yield-savings", "high-yield-savings",
            0.0, 4.10, 0.0, "mass", 1, _utc(2019, 2, 4), 2.6, 0.96, (0.05, 2.0), "/rates/savings/high-yield-savings"),
    Product("sav_money_market", "Money Market Savings", "deposits", "money_market", "/savings/money-market", "money-market-savings",
            0.0, 3.75, 2500.0, "emerging_affluent", 1, _utc(2012, 4, 2), 0.9, 0.95, (0.1, 4.0), "/rates/savings/money-market"),
    Product("cd_12m", "12-Month CD", "deposits", "cd", "/savings/cds/12-month-cd", "12-month-cd",
            0.0, 4.25, 1000.0, "emerging_affluent", 1, _utc(2010, 1, 4), 1.0, 0.97, (0.1, 6.0), "/rates/cds/12-month-cd"),
    # cards
    Product("card_cash_rewards", "Cash Rewards Visa", "cards", "credit_card", "/credit-cards/cash-rewards-visa", "cash-rewards-visa",
            0.0, 21.99, None, "mass", 2, _utc(2015, 9, 14), 2.8, 0.72, (2.0, 96.0)),
    Product("card_voyager_travel", "Voyager Travel Rewards Card", "cards", "credit_card", "/credit-cards/voyager-travel-rewards",
            "voyager-travel-rewards-card", 95.0, 23.49, None, "emerging_affluent", 2, _utc(2018, 3, 5), 1.8, 0.65, (4.0, 120.0)),
    Product("card_horizon_travel", "Horizon Premium Travel Card", "cards", "credit_card", "/credit-cards/horizon-premium-travel",
            "horizon-premium-travel-card", 395.0, 24.49, None, "affluent", 2, _utc(2026, 3, 2), 1.6, 0.55, (4.0, 144.0)),
    Product("card_secured", "Secured Credit Builder Card", "cards", "secured_card", "/credit-cards/secured-credit-builder",
            "secured-credit-builder-card", 0.0, 27.99, 200.0, "mass", 1, _utc(2017, 1, 9), 1.1, 0.9, (1.0, 48.0)),
    Product("card_balance_transfer", "Platinum Balance Transfer Card", "cards", "credit_card", "/credit-cards/platinum-balance-transfer",
            "platinum-balance-transfer-card", 0.0, 18.99, None, "mass", 2, _utc(2013, 5, 6), 1.3, 0.66, (2.0, 96.0)),
    Product("card_student", "Student Cash Back Card", "cards", "credit_card", "/credit-cards/student-cash-back", "student-cash-back-card",
            0.0, 22.99, None, "student", 1, _utc(2016, 8, 1), 0.7, 0.78, (1.0, 72.0)),
    # lending
    Product("loan_personal", "Fixed-Rate Personal Loan", "lending", "personal_loan", "/personal-loans/fixed-rate-personal-loan",
            "personal-loan", None, 11.49, 3000.0, "mass", 2, _utc(2011, 2, 7), 1.0, 0.62, (24.0, 120.0), "/rates/personal-loans"),
    Product("loan_debt_consolidation", "Debt Consolidation Loan", "lending", "personal_loan", "/personal-loans/debt-consolidation-loan",
            "debt-consolidation-loan", None, 10.99, 5000.0, "mass", 2, _utc(2015, 4, 6), 0.9, 0.6, (24.0, 144.0),
            "/rates/personal-loans/debt-consolidation"),
    Product("loan_auto", "New and Used Auto Loan", "lending", "auto_loan", "/auto-loans/new-and-used", "auto-loan",
            None, 6.49, 7500.0, "mass", 2, _utc(2008, 6, 2), 1.0, 0.74, (4.0, 96.0), "/rates/auto-loans"),
    Product("loan_auto_refi", "Auto Loan Refinance", "lending", "auto_loan", "/auto-loans/refinance", "auto-refinance",
            None, 6.99, 5000.0, "mass", 2, _utc(2014, 3, 3), 0.5, 0.7, (24.0, 168.0), "/rates/auto-loans/refinance"),
    Product("loan_student", "Undergraduate Student Loan", "lending", "student_loan", "/student-loans/undergraduate",
            "undergraduate-student-loan", None, 5.5, 1000.0, "student", 2, _utc(2012, 7, 2), 0.6, 0.7, (48.0, 336.0),
            "/rates/student-loans"),
    Product("loan_student_refi", "Student Loan Refinance", "lending", "student_loan", "/student-loans/refinance",
            "student-loan-refinance", None, 6.2, 5000.0, "emerging_affluent", 2, _utc(2017, 9, 4), 0.5, 0.6, (72.0, 336.0),
            "/rates/student-loans/refinance"),
    # home
    Product("mtg_30y_fixed", "30-Year Fixed Mortgage", "home", "mortgage", "/mortgages/30-year-fixed", "30-year-fixed-mortgage",
            None, 6.625, 50000.0, "emerging_affluent", 3, _utc(2005, 1, 3), 1.1, 0.6, (336.0, 1008.0), "/rates/mortgage/30-year-fixed"),
    Product("mtg_15y_fixed", "15-Year Fixed Mortgage", "home", "mortgage", "/mortgages/15-year-fixed", "15-year-fixed-mortgage",
            None, 5.875, 50000.0, "affluent", 3, _utc(2005, 1, 3), 0.6, 0.62, (336.0, 1008.0), "/rates/mortgage/15-year-fixed"),
    Product("mtg_arm_7_6", "7/6 ARM Mortgage", "home", "mortgage", "/mortgages/7-6-arm", "7-6-arm-mortgage",
            None, 6.125, 50000.0, "affluent", 3, _utc(2019, 10, 7), 0.4, 0.6, (336.0, 1008.0), "/rates/mortgage/7-6-arm"),
    Product("mtg_fha", "FHA Loan", "home", "mortgage", "/mortgages/fha-loans", "fha-loan",
            None, 6.25, 25000.0, "mass", 3, _utc(2007, 4, 2), 0.5, 0.58, (336.0, 1008.0), "/rates/mortgage/fha"),
    Product("mtg_refinance", "Mortgage Refinance", "home", "refinance", "/mortgages/refinance", "mortgage-refinance",
            None, 6.375, 50000.0, "emerging_affluent", 3, _utc(2005, 1, 3), 0.8, 0.65, (336.0, 840.0), "/rates/refinance"),
    Product("home_heloc", "Home Equity Line of Credit", "home", "heloc", "/home-equity/heloc", "heloc",
            None, 8.24, 10000.0, "emerging_affluent", 3, _utc(2006, 5, 1), 0.8, 0.7, (168.0, 672.0), "/rates/home-equity/heloc"),
    # investing
    Product("inv_self_directed", "Self-Directed Brokerage Account", "investing", "brokerage", "/investing/self-directed-brokerage",
            "brokerage-account", 0.0, None, 0.0, "emerging_affluent", 2, _utc(2013, 1, 7), 1.1, 0.95, (1.0, 72.0)),
    Product("inv_automated", "Automated Investing Portfolio", "investing", "robo_advisor", "/investing/automated-investing",
            "automated-investing", 0.0, None, 100.0, "mass", 1, _utc(2020, 2, 3), 1.0, 0.95, (1.0, 48.0)),
    Product("inv_roth_ira", "Roth IRA", "investing", "ira", "/retirement/roth-ira", "roth-ira",
            0.0, None, 0.0, "emerging_affluent", 2, _utc(2010, 1, 4), 0.8, 0.95, (2.0, 96.0)),
    Product("inv_traditional_ira", "Traditional IRA", "investing", "ira", "/retirement/traditional-ira", "traditional-ira",
            0.0, None, 0.0, "affluent", 2, _utc(2010, 1, 4), 0.6, 0.95, (2.0, 96.0)),
    Product("inv_rollover_ira", "401(k) Rollover IRA", "investing", "ira", "/retirement/401k-rollover", "401k-rollover-ira",
            0.0, None, 0.0, "affluent", 3, _utc(2011, 3, 7), 0.5, 0.93, (72.0, 504.0)),
    # insurance
    Product("ins_term_life", "Term Life Insurance", "insurance", "life_insurance", "/insurance/term-life", "term-life-insurance",
            240.0, None, None, "emerging_affluent", 2, _utc(2016, 4, 4), 0.6, 0.7, (72.0, 504.0)),
    Product("ins_home", "Homeowners Insurance", "insurance", "home_insurance", "/insurance/homeowners", "homeowners-insurance",
            1450.0, None, None, "emerging_affluent", 2, _utc(2016, 4, 4), 0.5, 0.85, (24.0, 168.0)),
    Product("ins_auto", "Auto Insurance", "insurance", "auto_insurance", "/insurance/auto", "auto-insurance",
            1380.0, None, None, "mass", 2, _utc(2016, 4, 4), 0.6, 0.88, (2.0, 72.0)),
    Product("ins_identity", "Identity Theft Protection", "insurance", "identity_protection", "/insurance/identity-theft-protection",
            "identity-theft-protection", 119.88, None, None, "mass", 1, _utc(2021, 9, 6), 0.7, 0.98, (0.05, 2.0)),
    # business
    Product("biz_checking", "Business Advantage Checking", "business", "business_checking", "/small-business/checking",
            "business-checking", 0.0, 0.01, 100.0, "small_business", 1, _utc(2010, 5, 3), 0.8, 0.9, (2.0, 72.0)),
    Product("biz_card", "Business Cash Rewards Card", "business", "business_card", "/small-business/credit-cards/business-cash-rewards",
            "business-cash-rewards-card", 0.0, 20.99, None, "small_business", 2, _utc(2015, 10, 5), 0.6, 0.68, (24.0, 168.0)),
    Product("biz_sba_loan", "SBA 7(a) Loan", "business", "business_loan", "/small-business/loans/sba-7a", "sba-7a-loan",
            None, 10.5, 25000.0, "small_business", 3, _utc(2012, 9, 3), 0.3, 0.5, (336.0, 1344.0), "/rates/small-business/sba-loans"),
    Product("biz_merchant", "Merchant Services", "business", "merchant_services", "/small-business/merchant-services",
            "merchant-services", 0.0, None, None, "small_business", 2, _utc(2014, 2, 3), 0.4, 0.85, (24.0, 240.0)),
)

PRODUCT_IDS = tuple(p.product_id for p in PRODUCTS)
PRODUCT_INDEX = {p.product_id: i for i, p in enumerate(PRODUCTS)}
LAUNCHED_PRODUCT = PRODUCT_INDEX[LAUNCHED_PRODUCT_ID]
LAUNCH_REPLACEMENT = PRODUCT_INDEX[LAUNCH_REPLACES_ID]
LAUNCH_US = us_since_start(PRODUCTS[LAUNCHED_PRODUCT].launched)
