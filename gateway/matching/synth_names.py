"""Name, street and place lists for the synthetic generator (``synth.py``).

Lists are in rough order of frequency: the generator draws with Zipf-like weights, so the
first names in each list are much more common, as in ONS birth registrations.
"""

from __future__ import annotations

# (share of children, boys' forenames, girls' forenames, surnames)
GROUPS: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "british": (
        0.68,
        ("Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar",
         "Charlie", "Jacob", "Thomas", "Henry", "William", "Alfie", "Joshua", "Freddie",
         "Archie", "Theo", "Isaac", "James", "Alexander", "Finley", "Edward", "Lucas", "Logan",
         "Daniel", "Samuel", "Joseph", "Max", "Ethan", "Mason", "Harrison", "Sebastian",
         "Tommy", "Jayden", "Dylan", "Riley", "Benjamin", "Reggie", "Jude", "Albie", "Toby",
         "Frederick", "Alfred", "Matthew", "Elliot", "Ronnie", "Jamie", "Tyler", "Kai",
         "Ryan", "Callum", "Connor", "Liam", "Nathan", "Luke", "Adam", "Michael", "Robert"),
        ("Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
         "Grace", "Freya", "Willow", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie",
         "Charlotte", "Evelyn", "Sienna", "Sofia", "Daisy", "Phoebe", "Sophie", "Alice",
         "Harper", "Matilda", "Ruby", "Emilia", "Maya", "Millie", "Isabelle", "Eleanor",
         "Layla", "Jessica", "Lucy", "Chloe", "Hannah", "Katie", "Abigail", "Megan", "Holly",
         "Scarlett", "Amber", "Niamh", "Erin", "Caitlin", "Molly", "Lexi", "Ellie", "Paige",
         "Harriet", "Margaret", "Elizabeth", "Rebecca", "Victoria", "Zara", "Imogen"),
        ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
         "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White",
         "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson",
         "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark",
         "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips",
         "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell",
         "Kelly", "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw",
         "Murphy", "Miller", "Cox", "Richards", "Khan", "Marshall", "Anderson", "Simpson",
         "Ellis", "Adams", "Singh", "Begum", "Wilkinson", "Foster", "Chapman", "Powell",
         "Webb", "Rogers", "Gray", "Mason", "Ali", "Hunt", "Hussain", "Campbell", "Matthews",
         "Owen", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Lloyd", "Butler", "Russell",
         "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey", "Graham",
         "Pearson", "Ahmed", "Fletcher", "Walsh", "Kaur", "Gibson", "Howard", "Andrews",
         "Stewart", "Elliott", "Reynolds", "Saunders", "Payne", "Fox", "Ford", "Pearce",
         "Day", "Brooks", "West", "Lawrence", "Cole", "Atkinson", "Bradley", "Spencer",
         "Gill", "Dawson", "Ball", "Burton", "O'Brien", "Watts", "Rose", "Booth", "Perry",
         "Ryan", "Grant", "Wells", "Armstrong", "Francis", "Rees", "Hayes", "Hart", "Hudson",
         "Newman", "Barrett", "Webster", "Hunter", "Gregory", "Carr", "Lowe", "Page", "Marsh"),
    ),
    "south_asian": (
        0.14,
        ("Muhammad", "Mohammed", "Ibrahim", "Yusuf", "Ali", "Hamza", "Omar", "Ayaan", "Zayn",
         "Adam", "Musa", "Abdullah", "Ahmed", "Hassan", "Hussain", "Bilal", "Arjun", "Aarav",
         "Rohan", "Harjot", "Gurpreet", "Vihaan", "Ishaan", "Rayan", "Zakariya", "Idris",
         "Imran", "Tariq", "Faisal", "Umar", "Aryan", "Dev", "Sahil", "Kabir"),
        ("Aisha", "Fatima", "Maryam", "Zainab", "Hafsa", "Amira", "Khadija", "Hana", "Inaya",
         "Anaya", "Safa", "Noor", "Aleena", "Sana", "Priya", "Simran", "Ananya", "Diya",
         "Jasleen", "Manpreet", "Aminah", "Sumaya", "Iqra", "Ayesha", "Mehreen", "Riya",
         "Saanvi", "Kiran", "Nadia", "Yasmin"),
        ("Khan", "Ahmed", "Hussain", "Ali", "Begum", "Patel", "Singh", "Kaur", "Islam",
         "Rahman", "Akhtar", "Iqbal", "Mahmood", "Shah", "Choudhury", "Uddin", "Miah",
         "Bibi", "Mohammed", "Sharma", "Kumar", "Malik", "Aslam", "Butt", "Raza", "Qureshi",
         "Chaudhry", "Mirza", "Sheikh", "Bashir", "Rashid", "Javed", "Gill", "Sandhu",
         "Dhillon", "Sidhu", "Mistry", "Desai", "Shah", "Hossain", "Karim", "Siddiqui"),
    ),
    "eastern_european": (
        0.08,
        ("Jakub", "Kacper", "Szymon", "Filip", "Jan", "Antoni", "Aleksander", "Mikołaj",
         "Wojciech", "Łukasz", "Bartosz", "Piotr", "Mateusz", "Oliwer", "Stanisław", "Andrei",
         "Ionuț", "Alexandru", "Matei", "David", "Luca", "Darius", "Nikola", "Dawid"),
        ("Zuzanna", "Julia", "Zofia", "Hanna", "Maja", "Lena", "Alicja", "Oliwia", "Amelia",
         "Natalia", "Wiktoria", "Aleksandra", "Gabriela", "Ioana", "Maria", "Elena",
         "Andreea", "Ana", "Bianca", "Karolina", "Małgorzata", "Katarzyna", "Agnieszka"),
        ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
         "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
         "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Popescu", "Ionescu", "Popa",
         "Stan", "Dumitru", "Constantin", "Gheorghe", "Rusu", "Munteanu", "Kaczmarek",
         "Pawlak", "Michalski", "Nowicki", "Adamczyk", "Dudek", "Zając", "Wieczorek"),
    ),
    "african": (
        0.06,
        ("David", "Daniel", "Samuel", "Emmanuel", "Joshua", "Mohamed", "Abdi", "Ahmed",
         "Tobi", "Chidi", "Oluwaseun", "Tunde", "Kwame", "Kofi", "Yusuf", "Abdirahman",
         "Ayomide", "Chinedu", "Isaiah", "Elijah", "Malachi", "Nathaniel"),
        ("Grace", "Esther", "Precious", "Blessing", "Favour", "Amara", "Zara", "Hodan",
         "Sagal", "Fadumo", "Ayan", "Nia", "Adaeze", "Chioma", "Temi", "Abigail", "Deborah",
         "Ruth", "Naomi", "Faith"),
        ("Mohamed", "Ali", "Hassan", "Ahmed", "Abdi", "Okafor", "Adeyemi", "Okonkwo",
         "Mensah", "Boateng", "Owusu", "Adebayo", "Oladipo", "Nwosu", "Eze", "Osei",
         "Asante", "Farah", "Warsame", "Jama", "Hussein", "Ibrahim", "Omar", "Yusuf",
         "Ogunleye", "Afolabi", "Danso", "Appiah", "Achieng", "Mwangi"),
    ),
    "other": (
        0.04,
        ("Wei", "Jun", "Hao", "Minh", "Luca", "Marco", "Mateo", "Santiago", "Rafael", "Omar",
         "Yusuf", "Emre", "Can", "Kerem", "Tomas", "Lukas", "Arman", "Reza", "Dara", "Sami"),
        ("Mei", "Ling", "Yan", "Linh", "Sofia", "Giulia", "Lucia", "Valentina", "Elif",
         "Zeynep", "Defne", "Ana", "Leila", "Sara", "Yara", "Nour", "Lina", "Mina"),
        ("Chen", "Wang", "Li", "Zhang", "Liu", "Nguyen", "Tran", "Rossi", "Russo", "Ferrari",
         "Silva", "Santos", "Ferreira", "Costa", "Garcia", "Rodriguez", "Yilmaz", "Kaya",
         "Demir", "Sahin", "Celik", "Ozturk", "Rahimi", "Hosseini", "Karimi", "Murphy"),
    ),
}

# Transliteration or spelling variants that records and enquiries really do disagree on.
VARIANTS: tuple[tuple[str, ...], ...] = (
    ("Muhammad", "Mohammed", "Mohammad", "Mohamed", "Muhammed", "Mohamad"),
    ("Ahmed", "Ahmad", "Ahmet"),
    ("Hussain", "Hussein", "Husain", "Hossain"),
    ("Aisha", "Ayesha", "Aysha", "Aishah"),
    ("Fatima", "Fatimah", "Fatma"),
    ("Yusuf", "Yousuf", "Yusef", "Yousef"),
    ("Ibrahim", "Ebrahim", "Ibraheem"),
    ("Zainab", "Zaynab", "Zenab"),
    ("Khadija", "Khadijah", "Khadeeja"),
    ("Hamza", "Hamzah"),
    ("Omar", "Umar"),
    ("Abdullah", "Abdulla"),
    ("Maryam", "Mariam", "Maryum"),
    ("Choudhury", "Chowdhury", "Chaudhry", "Choudhry"),
    ("Rahman", "Rehman"),
    ("Mahmood", "Mahmud", "Mehmood"),
    ("Abdi", "Abdee"),
    ("Oliwer", "Oliver"),
    ("Mikołaj", "Mikolaj"),
    ("Ionuț", "Ionut"),
)

STREETS = (
    "High", "Church", "Station", "Victoria", "Park", "Mill", "Green", "Manor", "Kings",
    "Queens", "New", "Grange", "Chapel", "School", "Albert", "York", "Springfield", "North",
    "South", "West", "Highfield", "Windsor", "Oak", "Elm", "Ash", "Beech", "Cedar", "Willow",
    "Meadow", "Orchard", "Cromwell", "Nelson", "Stanley", "Richmond", "Clarence", "Bridge",
    "Brook", "Hill", "Lime", "Rosemary", "Hawthorn", "Cherry", "Sycamore", "Laburnum",
)
STREET_TYPES = ("Road", "Street", "Avenue", "Lane", "Close", "Drive", "Crescent", "Gardens",
                "Way", "Terrace", "Place", "Grove")
# Real postcode areas of English towns and cities.
POSTCODE_AREAS = ("LS", "BD", "M", "B", "L", "S", "NG", "LE", "BS", "E", "N", "SE", "SW",
                  "NW", "W", "HU", "WF", "HD", "OL", "BL", "PR", "BB", "ST", "WV", "CV", "DE",
                  "LU", "MK", "PE", "NE", "SR", "DH", "TS", "YO", "DN", "RG", "SO", "PO")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters Royal Mail uses in inward codes
LA_CODES = (201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 301, 302, 303,
            304, 305, 306, 330, 331, 332, 333, 334, 335, 336, 340, 341, 350, 351, 352, 353,
            354, 355, 356, 357, 358, 370, 371, 372, 373, 380, 381, 382, 383, 384, 855, 856,
            857, 860, 861, 865, 866, 867, 868, 869, 870, 871, 872, 873, 874, 876, 877, 878)

# Real surname distributions have a long tail (in England and Wales the 500 commonest
# surnames cover well under half of people). Families whose surname is not from the
# lists above get one built from common English or Polish surname elements, so that a
# shared name is as weak a clue as it really is. (share of families, prefixes, suffixes)
SURNAME_TAIL: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "british": (
        0.55,
        ("Ash", "Brad", "Whit", "Holl", "Black", "Green", "Hather", "Bright", "Thorn", "Haw",
         "Wood", "Mar", "Roth", "Stan", "Old", "New", "Brook", "Craw", "Al", "Ather", "Bar",
         "Crom", "Dun", "Ed", "Farn", "Gold", "Hart", "Kings", "Lang", "Mid", "North",
         "Pen", "Rad", "South", "Stock", "Tur", "Wal", "West", "Whit", "Wor", "Ack", "Bex",
         "Chad", "Dar", "Fair", "Grims", "Hal", "Her", "Hol", "Lid", "Mel", "Nor", "Pick",
         "Rams", "Shel", "Tad", "War", "Wil", "Yar", "Bram", "Cas", "Elling"),
        ("worth", "shaw", "field", "ton", "ley", "by", "ford", "well", "wood", "croft", "ham",
         "hurst", "combe", "stone", "bridge", "gate", "more", "den", "thwaite", "wick",
         "land", "brook", "cliffe", "dale", "ridge", "house", "man", "er", "ings", "low"),
    ),
    "eastern_european": (
        0.5,
        ("Nowa", "Kowal", "Wiśniew", "Zieliń", "Lewan", "Jank", "Mazur", "Krawc", "Grab",
         "Pawl", "Wiecz", "Sob", "Maj", "Kub", "Szcz", "Ryb", "Wrób", "Gór", "Ostrow",
         "Bork", "Chmiel", "Dąb", "Głow", "Jasiń", "Kozł", "Marc", "Olsz", "Pietrz"),
        ("ski", "czyk", "owski", "ewicz", "iak", "ecki", "uk", "ek"),
    ),
    "african": (
        0.3,
        ("Ade", "Ola", "Oke", "Ogun", "Aki", "Bab", "Ola", "Ayo", "Fola", "Kay", "Osa",
         "Obi", "Nwa", "Chu", "Eme", "Ibe", "Ugo"),
        ("yemi", "tunde", "wale", "bayo", "kunle", "nna", "eze", "chukwu", "femi", "dele"),
    ),
    "other": (0.2, ("Chen", "Lin", "Wu", "Ho", "Le", "Pham", "Vu"), ("", "g", "h")),
    "south_asian": (
        0.1,
        ("Rah", "Sidd", "Chaud", "Qur", "Raj", "Gup", "Mal", "Sah", "Kap", "Bhat", "Ras"),
        ("man", "iqui", "hary", "eshi", "put", "ta", "hotra", "ni", "oor", "ia", "ool"),
    ),
}
